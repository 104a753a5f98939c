"""Several workers: generation event logs mirrored to Redis Streams, stop requests by pub/sub.

Each generation's events go to the stream `gen:{message_id}` with the explicit ids `0-1`, `0-2`,
... (the event numbers), so a worker that does not run the generation resumes after event N with
one XREAD from `0-N`. The worker running a generation holds a lease key refreshed by its
supervisor; a reply left `streaming` with no live lease belongs to a worker that died.

The producer never waits on Redis: events are queued and written by one task in pipelined batches.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio as redis

from generation.event_log import Event

logger = logging.getLogger(__name__)

StateLookup = Callable[[int], Awaitable[dict[str, Any] | None]]

STOP_CHANNEL = "lite-llm-chat:stop"
# A worker asks here for the live state of a reply another worker runs; the answer comes back in
# a list the asker names, which it waits on for STATE_ANSWER_SECONDS at most.
STATE_CHANNEL = "lite-llm-chat:state"
STATE_ANSWER_SECONDS = 1.0
STREAM_TTL_SECONDS = 600
LEASE_TTL_SECONDS = 10


def stream_key(message_id: int) -> str:
    return f"lite-llm-chat:gen:{message_id}"


def lease_key(message_id: int) -> str:
    return f"lite-llm-chat:lease:{message_id}"


class RedisBus:
    """The shared side of generations when REDIS_URL is set."""

    def __init__(self, url: str) -> None:
        self.redis = redis.from_url(url)
        self.worker_id = uuid.uuid4().hex
        self._pending: list[tuple[int, int, list[Event]]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._answering: set[asyncio.Task[None]] = set()

    async def start(self, on_stop: Callable[[int], None], state_of: StateLookup) -> None:
        """Start mirroring; `on_stop(id)` stops a local reply, `state_of(id)` gives its live columns."""
        await self.redis.ping()
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(STOP_CHANNEL, STATE_CHANNEL)
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="redis-writer"),
            asyncio.create_task(self._listen(pubsub, on_stop, state_of), name="redis-listener"),
        ]

    async def close(self) -> None:
        await self._drain_pending()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.redis.aclose()

    # --- producing --------------------------------------------------------------------------

    def mirror(self, message_id: int) -> Callable[[int, list[Event]], None]:
        """A callback for EventLog: queue events numbered from `first` for the Redis stream."""

        def enqueue(first: int, events: list[Event]) -> None:
            self._pending.append((message_id, first, events))
            self._wake.set()

        return enqueue

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._drain_pending()
            except redis.RedisError:
                logger.exception("Could not mirror generation events to Redis")

    async def _drain_pending(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for message_id, first, events in batch:
                key = stream_key(message_id)
                for offset, event in enumerate(events):
                    pipe.xadd(key, {"e": json.dumps(event)}, id=f"0-{first + offset}")
                    if event.get("done"):
                        pipe.expire(key, STREAM_TTL_SECONDS)
            await pipe.execute()

    async def renew_leases(self, message_ids: Iterable[int]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.set(lease_key(message_id), self.worker_id, ex=LEASE_TTL_SECONDS)
            await pipe.execute()

    async def release_lease(self, message_id: int) -> None:
        await self.redis.delete(lease_key(message_id))

    async def leased(self, message_ids: list[int]) -> set[int]:
        """Which of these replies are held by a live worker."""
        if not message_ids:
            return set()
        owners = await self.redis.mget([lease_key(m) for m in message_ids])
        return {m for m, owner in zip(message_ids, owners, strict=True) if owner is not None}

    # --- consuming --------------------------------------------------------------------------

    async def has_stream(self, message_id: int) -> bool:
        return bool(await self.redis.exists(stream_key(message_id)))

    async def follow(
        self, message_id: int, after: int, idle: float
    ) -> AsyncGenerator[list[tuple[int, Event]], None]:
        """Batches of (number, event) after event `after` until `done`; empty batch when idle."""
        key = stream_key(message_id)
        last = f"0-{after}"
        while True:
            answer: Any = await self.redis.xread({key: last}, block=max(1, int(idle * 1000)))
            if not answer:
                if not await self.redis.exists(lease_key(message_id), key):
                    return
                if not await self.redis.exists(lease_key(message_id)) and not await self._ended(key):
                    # The worker running it died; its row is marked interrupted by the sweep.
                    yield [(0, {"error": "the worker running this reply stopped"}), (0, {"done": True})]
                    return
                yield []
                continue
            batch: list[tuple[int, Event]] = []
            for entry_id, fields in answer[0][1]:
                last = entry_id.decode()
                batch.append((int(last.split("-")[1]), json.loads(fields[b"e"])))
            yield batch
            if batch and batch[-1][1].get("done"):
                return

    async def _ended(self, key: str) -> bool:
        last: Any = await self.redis.xrevrange(key, count=1)
        return bool(last) and bool(json.loads(last[0][1][b"e"]).get("done", False))

    # --- stopping ---------------------------------------------------------------------------

    async def request_stop(self, message_id: int) -> None:
        await self.redis.publish(STOP_CHANNEL, str(message_id))

    async def _listen(
        self, pubsub: redis.client.PubSub, on_stop: Callable[[int], None], state_of: StateLookup
    ) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            if message["channel"] == STATE_CHANNEL.encode():
                # Answered on a task of its own: a reply's state may be a moment coming (see
                # GenerationManager.local_state), and stop requests must not wait behind it.
                answering = asyncio.create_task(self._answer_state(message["data"], state_of))
                self._answering.add(answering)
                answering.add_done_callback(self._answering.discard)
                continue
            with contextlib.suppress(ValueError):
                on_stop(int(message["data"]))

    # --- live state -------------------------------------------------------------------------

    async def ask_state(self, message_id: int) -> dict[str, Any] | None:
        """The live columns of a reply another worker runs, or None if no worker answers in time."""
        answer_key = f"lite-llm-chat:state-answer:{uuid.uuid4().hex}"
        await self.redis.publish(STATE_CHANNEL, json.dumps({"id": message_id, "answer": answer_key}))
        answer: Any = await self.redis.blpop([answer_key], timeout=STATE_ANSWER_SECONDS)
        return json.loads(answer[1]) if answer else None

    async def _answer_state(self, data: bytes, state_of: StateLookup) -> None:
        try:
            question = json.loads(data)
            message_id, answer_key = int(question["id"]), str(question["answer"])
        except (ValueError, KeyError, TypeError):
            logger.warning("Ignored a malformed live-state question on %s", STATE_CHANNEL)
            return
        state = await state_of(message_id)
        if state is None:
            return  # another worker runs it, or none: the asker falls back to the stored row
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.rpush(answer_key, json.dumps(state, default=str))
                pipe.expire(answer_key, int(STATE_ANSWER_SECONDS * 10))
                await pipe.execute()
        except redis.RedisError:
            logger.exception("Could not answer a live-state question for reply %s", message_id)
