"""The SSE response of the chat routes: numbered events framed once, written straight to `send`.

Starlette's StreamingResponse starts an anyio task group per response to notice a client leaving;
here one plain task waits for `http.disconnect` and ends the writing through an `asyncio.timeout`
scope, and the response frames the event log's batches itself rather than through another async
generator, which costs a relayed reply less CPU per request and per event.
"""

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Mapping

import orjson
from fastapi.sse import format_sse_event
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from generation.event_log import Event

KEEPALIVE = b": keep-alive\n\n"

Batches = AsyncGenerator[list[tuple[int, Event]], None]


def encode(number: int, event: Event, with_id: bool) -> bytes:
    data = orjson.dumps(event).decode()  # compact, non-ASCII kept as is
    return format_sse_event(data_str=data, id=str(number) if with_id else None)


class EventStreamResponse(Response):
    """Relay batches of numbered events; every event ready at once goes out in one write.

    An empty batch is the log's cue for a keep-alive comment. `on_close(sent)` runs once the stream
    ends, a client disconnect included, with the number of the last event handed to the client.
    `render` frames a batch in another wire than the contract's (the OpenAI-compatible front door's
    chunks); a batch it renders as nothing is not written.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        batches: Batches,
        *,
        with_ids: bool,
        on_close: Callable[[int], object] | None = None,
        headers: Mapping[str, str] | None = None,
        render: Callable[[list[tuple[int, Event]]], bytes] | None = None,
    ) -> None:
        self.batches = batches
        self.with_ids = with_ids
        self.framing = render
        self.on_close = on_close
        self.sent = 0
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if self.on_close is not None:
                on_close = self.on_close
                stack.callback(lambda: on_close(self.sent))
            # Closing the batches now, not when collected, ends the follower's wait at once.
            stack.push_async_callback(self.batches.aclose)
            try:
                async with asyncio.timeout(None) as writing:
                    watcher = asyncio.create_task(_client_left(receive, writing))
                    stack.callback(watcher.cancel)
                    await self._write(send)
            except TimeoutError:
                if not writing.expired():
                    raise
                # The client left: nothing more can be written, and the reply goes on without it.

    async def _write(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        with_ids, render = self.with_ids, self.framing
        async for batch in self.batches:
            if not batch:
                await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                continue
            body = (
                render(batch) if render is not None else b"".join([encode(n, e, with_ids) for n, e in batch])
            )
            if body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
            # Counted once handed over: the server writes the bytes before it can wait on the socket.
            self.sent = batch[-1][0]
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _client_left(receive: Receive, writing: asyncio.Timeout) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    writing.reschedule(asyncio.get_running_loop().time())
