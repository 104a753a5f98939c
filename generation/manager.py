"""The generations of this process: launched, found, stopped, read live, and supervised on a tick.

One supervisor task flushes every running reply on STREAM_FLUSH_INTERVAL, trips the watchdogs,
pings quiet streams and keeps the Redis leases, so none of that costs the per-chunk path anything.
"""

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

import database
import limits.slots
from auth.store import own_session_files
from config import Settings
from generation.event_log import Event
from generation.prompt_file import PromptFile
from generation.recovery import Recovery, drain
from generation.redis_bus import RedisBus
from generation.reply import Reply
from generation.running import Generation
from generation.watchdogs import STOPPED, overrun
from observability.tracing import reply_span
from providers.base import LLMProvider, ProviderRequest

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

    from observability.metrics import Metrics
    from titles.titler import Titler

logger = logging.getLogger(__name__)

# How long an ended generation stays findable: its log is still replayed from memory, and a read of
# its session may still find the row `streaming` if it raced the final store.
RECENT_SECONDS = 60
# A browser's Stop aborts the stream and at once re-reads the session on another connection; the
# stream's connection is closed some tens of milliseconds later (12 to 31 ms measured in Chromium),
# so the re-read may come first. A read of a reply whose client's leaving would stop it waits this
# long for that to happen, and shows the stopped reply rather than a running one.
LEAVING_GRACE_SECONDS = 0.25


class GenerationManager:
    """Runs generations, flushes them on an interval, enforces the watchdogs, drains on shutdown."""

    def __init__(self, settings: Settings, db: database.Database, bus: RedisBus | None = None) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.active: dict[int, Generation] = {}
        self.draining = False
        self.recovery = Recovery(db, bus)
        # The system prompt of new sessions that give none (SYSTEM_PROMPT_FILE).
        self.default_prompt = PromptFile(settings.system_prompt_file)
        self._recent: dict[int, tuple[float, Generation]] = {}
        self._supervisor: asyncio.Task[None] | None = None
        # Names new sessions after their first reply (TITLE_PROVIDER); None when that is off.
        self.titler: Titler | None = None
        self.metrics: Metrics | None = None  # told of each reply that ends, when set
        self.tracer: Tracer | None = None  # a span per reply (OTEL_EXPORTER_OTLP_ENDPOINT), when set

    async def start(self) -> None:
        """Recover replies a dead process left `streaming`, then start supervising."""
        if self.bus is not None:
            await self.bus.start(self.stop_local, self.local_state)
        await self.recovery.at_start(self.active)
        self._supervisor = asyncio.create_task(self._supervise(), name="generation-supervisor")

    # --- running ----------------------------------------------------------------------------

    async def launch(
        self,
        session_id: int,
        message_id: int,
        provider: LLMProvider,
        request: ProviderRequest,
        reply: Reply | None = None,
    ) -> Generation:
        """Start producing the reply `message_id` (a row already stored `streaming`) on a task of its own."""
        generation = Generation(
            session_id=session_id,
            message_id=message_id,
            provider=provider,
            request=request,
            upload_dir=self.settings.upload_dir,
            reply=reply,
            own_files=functools.partial(self._own_files, session_id),
        )
        if self.bus is not None:
            generation.log.mirror = self.bus.mirror(generation.message_id)
            generation.log.mirror(1, generation.log.events())
            await self.bus.renew_leases([generation.message_id])
        self.active[generation.message_id] = generation
        generation.task = asyncio.create_task(
            self._drive(generation, limits.slots.claim()), name=f"generation-{generation.message_id}"
        )
        return generation

    async def _own_files(self, session_id: int, names: list[str]) -> None:
        await self.db.run_core(own_session_files, session_id, names)

    async def _drive(self, generation: Generation, slot: limits.slots.Slot | None = None) -> None:
        """Run the generation, store its end, and free the limit slot its request took (limits/)."""
        with reply_span(self.tracer, generation):
            await self._run_and_store(generation, slot)

    async def _run_and_store(self, generation: Generation, slot: limits.slots.Slot | None) -> None:
        try:
            await generation.run()
        finally:
            if slot is not None:
                await asyncio.shield(slot.release())
            try:
                await asyncio.shield(self._store(generation))
            finally:
                generation.close_log()
                generation.done.set()
                self.active.pop(generation.message_id, None)
                self._recent[generation.message_id] = (time.monotonic(), generation)
                if self.metrics is not None:
                    self.metrics.reply_ended(generation)
            if self.bus is not None:
                await self.bus.release_lease(generation.message_id)

    async def _store(self, generation: Generation) -> None:
        generation.dirty = False
        await self.db.run_core(database.update_message, generation.message_id, **generation.reply.columns())

    async def finished(self, generation: Generation) -> database.ChatMessage:
        """The reply's stored row once its generation has ended; raises the error that ended it."""
        await generation.done.wait()
        if generation.error is not None:
            raise generation.error
        row = await self.db.run(database.get_message, generation.message_id)
        if row is None:  # its session was deleted meanwhile
            raise database.NotFoundError(f"Message {generation.message_id} was deleted as it was generated")
        return row

    # --- finding, reading, stopping ---------------------------------------------------------

    def get(self, message_id: int) -> Generation | None:
        """A running generation, or one that ended moments ago (its log is still replayable)."""
        if message_id in self.active:
            return self.active[message_id]
        recent = self._recent.get(message_id)
        return recent[1] if recent else None

    async def local_state(self, message_id: int) -> dict[str, Any] | None:
        generation = self.get(message_id)
        if generation is None:
            return None
        if generation.leaving_stops and not generation.reply.ended:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LEAVING_GRACE_SECONDS):
                    await generation.ended.wait()
        return generation.reply.columns()

    async def live_state(self, message_id: int) -> dict[str, Any] | None:
        """The columns of a reply as its generation holds them now, here or on another worker.

        None when no worker runs it (or ran it moments ago): its stored row is then the truth.
        """
        state = await self.local_state(message_id)
        if state is not None or self.bus is None or not await self.bus.leased([message_id]):
            return state
        return await self.bus.ask_state(message_id)

    def stop_local(self, message_id: int) -> None:
        generation = self.active.get(message_id)
        if generation is not None:
            generation.abort(STOPPED)

    async def stop_elsewhere(self, message_id: int) -> bool:
        """Ask the worker running this reply to stop it and wait (bounded) until it has ended."""
        if self.bus is None or not await self.bus.leased([message_id]):
            return False
        await self.bus.request_stop(message_id)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                async for _ in self.bus.follow(message_id, 0, 1.0):
                    pass
        return True

    async def follow_elsewhere(
        self, message_id: int, after: int
    ) -> AsyncGenerator[list[tuple[int, Event]], None] | None:
        """The live event log of a reply another worker runs, or None."""
        if self.bus is None or not await self.bus.has_stream(message_id):
            return None
        return self.bus.follow(message_id, after, self.settings.keepalive_seconds)

    def stop_session(self, session_id: int, from_message: int = 0) -> None:
        """Stop and forget the session's replies at or after `from_message`, before they are deleted."""
        self._discard(lambda g: g.session_id == session_id and g.message_id >= from_message)

    def stop_all(self) -> None:
        self._discard(lambda g: True)

    def _discard(self, chosen: Callable[[Generation], bool]) -> None:
        for generation in list(self.active.values()):
            if chosen(generation):
                generation.abort(STOPPED)
        for message_id, (_, generation) in list(self._recent.items()):
            if chosen(generation):
                del self._recent[message_id]

    # --- supervision ------------------------------------------------------------------------

    def _tick(self) -> float:
        s = self.settings
        shortest = min(s.stream_flush_interval, s.first_token_timeout / 4, s.keepalive_seconds / 2, 0.5)
        return max(0.02, shortest)

    async def _supervise(self) -> None:
        flushed = time.monotonic()
        flush_took = 0.0
        while True:
            await asyncio.sleep(self._tick())
            try:
                self._enforce_watchdogs()
                self._keep_alive()
                # The tick may be shorter than STREAM_FLUSH_INTERVAL (it also runs the watchdogs).
                # A flush rewrites every running row whole: under a load that makes one flush
                # costly, flushes space out so that they never take more than a tenth of the time.
                if time.monotonic() - flushed >= max(self.settings.stream_flush_interval, flush_took * 10):
                    flushed = time.monotonic()
                    await self._flush_dirty()
                    flush_took = time.monotonic() - flushed
                self._forget_old()
                await self.recovery.keep_leases(self.active)
            except Exception:
                logger.exception("Generation supervisor tick failed")

    async def _flush_dirty(self) -> None:
        dirty = [g for g in self.active.values() if g.dirty and not g.finished]
        if not dirty:
            return
        rows = {}
        for generation in dirty:
            generation.dirty = False
            rows[generation.message_id] = generation.reply.columns()
        await self.db.run_core(database.update_messages, rows)

    def _keep_alive(self) -> None:
        """Ping the followers of replies quiet for KEEPALIVE_SECONDS (their wait arms no timer)."""
        now = time.monotonic()
        for generation in self.active.values():
            pace = generation.pace
            if generation.log.followed and now - max(pace.last_event_at, pace.pinged_at) >= (
                self.settings.keepalive_seconds
            ):
                pace.pinged_at = now
                generation.log.ping()

    def _enforce_watchdogs(self) -> None:
        now = time.monotonic()
        for generation in list(self.active.values()):
            reason = overrun(
                self.settings, generation.provider.id, generation.pace, generation.reply.text, now
            )
            if reason is not None:
                generation.abort(reason)

    def _forget_old(self) -> None:
        horizon = time.monotonic() - RECENT_SECONDS
        for message_id, (ended, _) in list(self._recent.items()):
            if ended < horizon:
                del self._recent[message_id]

    # --- shutdown ---------------------------------------------------------------------------

    async def drain(self, grace: float) -> None:
        """Refuse new chats, give running ones `grace` seconds, then store them as interrupted."""
        self.draining = True
        await drain(list(self.active.values()), grace)

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self.bus is not None:
            await self.bus.close()
