"""One WebSocket: a bounded outbox, one writer, and one relay per reply it follows.

Every reply the socket follows has a relay task that reads the reply's event log (the same log an
SSE stream reads) and puts its frames in the socket's outbox; one writer task sends them. The
outbox holds at most WS_SEND_QUEUE frames: when a client stops reading, the writer waits on the
socket, the outbox fills and the relays wait on it, while the generations go on and store their
replies. What a socket holds for a slow reader is the outbox and one frame per reply it follows
(the one its relay is handing over), not the replies.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from types import TracebackType
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

import database
from generation.event_log import Event
from generation.manager import GenerationManager
from socket_stream import frames

logger = logging.getLogger(__name__)

Batches = AsyncGenerator[list[tuple[int, Event]], None]
# What sending on a socket whose client has gone raises: uvicorn's ClientDisconnected is an OSError,
# Starlette's WebSocketDisconnected (a send after the close) a RuntimeError.
CLOSED = (WebSocketDisconnect, OSError, RuntimeError)


class SocketGone(Exception):
    """The client of the socket has left; nothing more can be sent on it."""


# (message id or None for a frame of no reply, its event number, the encoded frame)
Outgoing = tuple[int | None, int, str]


class SocketStream:
    """The streams of one socket to one session, multiplexed by message id."""

    def __init__(self, websocket: WebSocket, manager: GenerationManager, session_id: int, queue: int) -> None:
        self.websocket = websocket
        self.manager = manager
        self.session_id = session_id
        self.outbox: asyncio.Queue[Outgoing] = asyncio.Queue(maxsize=queue)
        self.relays: dict[int, asyncio.Task[None]] = {}
        # The number of the last event of each reply handed to the socket.
        self.sent: dict[int, int] = {}
        # Held while a frame is being handed to the socket, by the writer or by a relay.
        self._sending = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "SocketStream":
        self._writer = asyncio.create_task(self._write(), name=f"ws-writer-{self.session_id}")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tasks = [*self.relays.values(), *([self._writer] if self._writer else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def send(self, frame: dict[str, Any], message_id: int | None = None) -> None:
        """Queue a frame of no reply's log (an error, an acknowledgement)."""
        if message_id is not None:
            frame = {**frame, "message_id": message_id}
        await self._deliver((None, 0, orjson.dumps(frame).decode()))

    def follow(self, message_id: int, batches: Batches, on_close: Callable[[int], object] | None) -> None:
        """Relay a reply's events on this socket; a reply it already follows is followed afresh."""
        previous = self.relays.pop(message_id, None)
        if previous is not None:
            previous.cancel()
        self.relays[message_id] = asyncio.create_task(
            self._relay(message_id, batches, on_close), name=f"ws-relay-{message_id}"
        )

    @property
    def buffered(self) -> int:
        """Frames waiting in the outbox (at most WS_SEND_QUEUE)."""
        return self.outbox.qsize()

    async def _relay(
        self, message_id: int, batches: Batches, on_close: Callable[[int], object] | None
    ) -> None:
        session_id, deliver = self.session_id, self._deliver
        try:
            async for batch in batches:
                # An empty batch is the log's keep-alive cue: a socket has its own pings.
                # A paced reply's batches hold one event: nothing to merge.
                for number, event in batch if len(batch) == 1 else frames.coalesced(batch):
                    frame = frames.render(session_id, message_id, number, event)
                    if frame is frames.DONE:
                        frame = frames.complete(message_id, number, await self._final(message_id))
                    if type(frame) is str:
                        await deliver((message_id, number, frame))
                    elif frame is not None:
                        await deliver((message_id, number, orjson.dumps(frame).decode()))
        except SocketGone:
            pass  # the client left mid-send: the reply goes on without this socket
        except Exception:
            logger.exception("Relaying reply %s on a WebSocket failed", message_id)
        finally:
            await batches.aclose()
            if self.relays.get(message_id) is asyncio.current_task():
                del self.relays[message_id]
            if on_close is not None:
                on_close(self.sent.get(message_id, 0))

    async def _final(self, message_id: int) -> dict[str, Any]:
        # The closing events are published once the final row is stored: the row is the truth,
        # but a generation still in memory has the same columns without a query.
        generation = self.manager.get(message_id)
        if generation is not None:
            return generation.reply.columns()
        row = await self.manager.db.run(database.get_message, message_id)
        if row is None:
            return {"status": "deleted", "finish_reason": None, "content": ""}
        return {"status": row.status, "finish_reason": row.finish_reason, "content": row.content}

    async def _deliver(self, item: Outgoing) -> None:
        # When nothing is queued or being sent, the relay sends the frame itself: a hand-over to
        # the writer task would cost every frame a task switch. Otherwise it queues behind the
        # others, so the frames keep their order, and waits while the outbox is full.
        sending = self._sending
        if self.outbox.empty() and not sending.locked():
            await sending.acquire()  # free: taken at once
            try:
                await self._send_now(item)
            finally:
                sending.release()
        else:
            await self.outbox.put(item)

    async def _write(self) -> None:
        get = self.outbox.get
        try:
            while True:
                item = await get()
                async with self._sending:
                    await self._send_now(item)
        except SocketGone:
            # The client is gone: what is queued, or still queued until the socket's reader sees
            # the disconnect, is dropped, so that nothing stays waiting on a full outbox.
            while True:
                await get()

    async def _send_now(self, item: Outgoing) -> None:
        message_id, number, text = item
        try:
            await self.websocket.send({"type": "websocket.send", "text": text})
        except CLOSED as exc:
            raise SocketGone() from exc
        if message_id is not None:
            self.sent[message_id] = number


class SocketRegistry:
    """The open sockets of this worker by session: a reply continued over HTTP streams on them too."""

    def __init__(self) -> None:
        self.by_session: dict[int, set[SocketStream]] = {}

    @contextlib.contextmanager
    def opened(self, stream: SocketStream) -> Any:
        self.by_session.setdefault(stream.session_id, set()).add(stream)
        try:
            yield stream
        finally:
            streams = self.by_session.get(stream.session_id, set())
            streams.discard(stream)
            if not streams:
                self.by_session.pop(stream.session_id, None)

    def of(self, session_id: int) -> list[SocketStream]:
        return list(self.by_session.get(session_id, ()))
