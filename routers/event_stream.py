"""The SSE response of the chat routes: numbered events framed once, written straight to `send`.

Starlette's StreamingResponse starts an anyio task group per response to notice a client leaving;
here one plain task writes while the request's own task waits for `http.disconnect`, and the
response frames the event log's batches itself rather than through another async generator,
which costs a relayed reply less CPU per request and per event.
"""

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Mapping

import orjson
from fastapi.sse import format_sse_event
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from event_log import Event

KEEPALIVE = b": keep-alive\n\n"

Batches = AsyncGenerator[list[tuple[int, Event]], None]


def encode(number: int, event: Event, with_id: bool) -> bytes:
    data = orjson.dumps(event).decode()  # compact, non-ASCII kept as is
    return format_sse_event(data_str=data, id=str(number) if with_id else None)


class EventStreamResponse(Response):
    """Relay batches of numbered events; every event ready at once goes out in one write.

    An empty batch is the log's cue for a keep-alive comment. `on_close` runs once the stream ends,
    a client disconnect included.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        batches: Batches,
        *,
        with_ids: bool,
        on_close: Callable[[], object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.batches = batches
        self.with_ids = with_ids
        self.on_close = on_close
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if self.on_close is not None:
                stack.callback(self.on_close)
            # Closing the batches now, not when collected, ends the follower's wait at once.
            stack.push_async_callback(self.batches.aclose)
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await send(start)
            # What is ready goes out from this task, before the generation's task runs on (it may
            # parse a whole burst and store the reply first).
            first = await anext(self.batches, None)
            if first is not None:
                await send(self._body(first))
            # The rest is written by a task of its own, resumed for every batch with a stack a few
            # frames deep; this one lies under every middleware of the app, each frame resumed in turn.
            writer = asyncio.create_task(self._write(send))
            try:
                await _until_written_or_gone(writer, receive)
            finally:
                if not writer.done():
                    writer.cancel()
                    await asyncio.wait([writer])
            if not writer.cancelled():
                writer.result()  # the writing's own failure, if any

    def _body(self, batch: list[tuple[int, Event]]) -> Message:
        with_ids = self.with_ids
        body = b"".join([encode(n, e, with_ids) for n, e in batch]) if batch else KEEPALIVE
        return {"type": "http.response.body", "body": body, "more_body": True}

    async def _write(self, send: Send) -> None:
        async for batch in self.batches:
            await send(self._body(batch))
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_written_or_gone(writer: asyncio.Task[None], receive: Receive) -> None:
    """Return once the writer has ended or the client has left, whichever comes first."""
    loop = asyncio.get_running_loop()
    waiting = True

    def written(_: asyncio.Task[None]) -> None:
        # Done callbacks run later, on the loop: by then this wait may have ended by itself (a
        # server wakes a pending `receive` with `http.disconnect` once the response is complete).
        if waiting:
            scope.reschedule(loop.time())

    try:
        async with asyncio.timeout(None) as scope:
            writer.add_done_callback(written)
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass
            finally:
                waiting = False
                writer.remove_done_callback(written)
    except TimeoutError:
        if not scope.expired():
            raise
