"""A chat turn as a task of its own: the producer of an event log that HTTP streams consume.

The generation is not tied to the HTTP request that started it: a client that disconnects does not
lose the reply. Text accumulates in memory and one supervisor task flushes every running
generation on STREAM_FLUSH_INTERVAL and enforces the watchdogs, so the per-chunk path does no I/O
and arms no timer.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import database
import media
from config import Settings
from event_log import Event, EventLog
from providers.base import (
    Finish,
    GeneratedMedia,
    LLMProvider,
    MediaOutput,
    Progress,
    ProviderRequest,
    ReasoningDelta,
    SearchResults,
    StreamEvent,
    TextDelta,
    ThoughtSignature,
    Usage,
)
from providers.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from redis_bus import LEASE_TTL_SECONDS, RedisBus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Abort:
    """Why a generation was ended from outside its own stream."""

    status: str
    finish_reason: str
    error: Exception | None = None


STOPPED = Abort("stopped", "stopped by user")
# The contract's keys for generated media (MediaOutput.kind).
MEDIA_KINDS = frozenset({"images", "videos", "audios"})


class Generation:
    """One assistant reply being produced.

    Attributes:
        message_id: The assistant row this generation writes.
        session_id: Its session.
        log: Numbered events for SSE consumers, starting with session_id and message_id.
        started: Set once the vendor produced output, or the generation ended without any.
    """

    def __init__(
        self,
        *,
        session_id: int,
        message_id: int,
        provider: LLMProvider,
        request: ProviderRequest,
        upload_dir: Path,
        prefix: str = "",
        reasoning_prefix: str = "",
    ) -> None:
        self.session_id = session_id
        self.message_id = message_id
        self.provider = provider
        self.request = request
        self.upload_dir = upload_dir
        self.log = EventLog()
        self.log.extend([{"session_id": session_id}, {"message_id": message_id}])
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        # A continued reply goes on from its stored text: the log carries only what is new.
        self._prefix = prefix
        self._reasoning_prefix = reasoning_prefix
        self.text: list[str] = [prefix] if prefix else []
        self.reasoning: list[str] = [reasoning_prefix] if reasoning_prefix else []
        self.search_results: list[dict[str, Any]] = []
        self.media: dict[str, list[str]] = {}
        self.signatures: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None
        self.status = "streaming"
        self.error: Exception | None = None
        self.has_output = False
        self.dirty = False
        self.began_at = time.monotonic()
        self.last_event_at = self.began_at
        self.pinged_at = self.began_at
        self.abort_reason: Abort | None = None
        self.task: asyncio.Task[None] | None = None
        self.running = False
        self._loop_checked = 0

    def grew_since_loop_check(self) -> bool:
        grew = len(self.text) != self._loop_checked
        self._loop_checked = len(self.text)
        return grew

    @property
    def finished(self) -> bool:
        return self.done.is_set()

    def abort(self, reason: Abort, *, cut_at: int | None = None) -> bool:
        """End the generation now (stop, watchdog, shutdown); False if it already ended.

        The reply takes its final state at once, so a read that follows sees what will be stored.
        `cut_at` keeps only what the first `cut_at` events of the log carried: the text a client
        that left had been sent, no more.
        """
        if self.status != "streaming" or self.task is None:
            return False
        self.abort_reason = reason
        if cut_at is not None:
            self._cut(cut_at)
        self._end(reason.status, reason.finish_reason, reason.error)
        # A task cancelled before its first step never runs its clean-up (the final store): one
        # that has not started yet finds the reason when it does, and ends at once.
        if self.running:
            self.task.cancel()
        return True

    def _cut(self, count: int) -> None:
        self.text = [self._prefix] if self._prefix else []
        self.reasoning = [self._reasoning_prefix] if self._reasoning_prefix else []
        self.search_results = []
        self.media = {}
        for event in self.log.events[2:count]:
            self._refold(event)

    def _refold(self, wire: Event) -> None:
        """Fold a contract event back into the reply (the inverse of `_record`)."""
        for key, value in wire.items():
            if key == "content":
                self.text.append(value)
            elif key == "reasoning":
                self.reasoning.append(value)
            elif key == "search_results":
                self.search_results.extend(value)
            elif key in MEDIA_KINDS:
                self.media.setdefault(key, []).extend(value)

    # --- producing --------------------------------------------------------------------------

    async def run(self) -> None:
        self.running = True
        if self.abort_reason is not None:
            return  # aborted before it started: abort() has set the final state
        try:
            request = await request_with_media(self.provider, self.request, self.upload_dir)
            async for event in self.provider.stream(request):
                if type(event) is GeneratedMedia:
                    event = await stored_media(event, self.upload_dir)
                first = not self.has_output
                self._apply(event)
                if first and self.has_output:
                    # Let the HTTP response start now, before a burst of buffered chunks is parsed.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            if self.abort_reason is None:
                self._end("interrupted", "interrupted", None)
                raise
        except ProviderError as exc:
            self._end_unless_aborted("error", "error", exc)
        except Exception as exc:  # a reply we could not handle must still end, stored and explained
            logger.exception("Generation %s failed", self.message_id)
            failure = ProviderUnavailable(self.provider.id, f"could not process the vendor's reply ({exc})")
            self._end_unless_aborted("error", "error", failure)
        else:
            self._end_unless_aborted("complete", self.finish_reason or "stop", None)

    def _end_unless_aborted(self, status: str, finish_reason: str, error: Exception | None) -> None:
        # An abort has already set the final state; what the stream did while closing is moot.
        if self.abort_reason is None:
            self._end(status, finish_reason, error)

    def _apply(self, event: StreamEvent) -> None:
        self.last_event_at = time.monotonic()
        wire = self._record(event)
        if wire is not None:
            self.log.append(wire)
            self.dirty = True
            if not self.has_output:
                self.has_output = True
                self.started.set()

    def _record(self, event: StreamEvent) -> Event | None:
        """Fold an event into the reply; return its contract form, or None if it is internal."""
        match event:
            case TextDelta(text):
                self.text.append(text)
                return {"content": text}
            case ReasoningDelta(text):
                self.reasoning.append(text)
                return {"reasoning": text}
            case SearchResults(items):
                self.search_results.extend(items)
                return {"search_results": list(items)}
            case MediaOutput(kind, urls):
                self.media.setdefault(kind, []).extend(urls)
                return {kind: list(urls)}
            case Progress(status, percent):
                return {"progress": {"status": status, "percent": percent}}
            case ThoughtSignature(value):
                self.signatures.append(value)
            case Usage(data):
                self.usage = dict(data)
            case Finish(reason):
                self.finish_reason = reason
        return None

    def _end(self, status: str, finish_reason: str, error: Exception | None) -> None:
        self.status = status
        self.finish_reason = finish_reason
        self.error = error
        self.dirty = True

    @property
    def error_text(self) -> str | None:
        return str(self.error) if self.error is not None else None

    def close_log(self) -> None:
        """Publish the closing events, once the final row is stored.

        A client that sees `done` and sends its next turn at once then finds this reply in the history.
        """
        if self.error_text is not None:
            self.log.append({"error": self.error_text})
        elif self.usage:
            self.log.append({"usage": self.usage})
        self.log.append({"done": True})
        self.log.close()

    # --- persistence ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The row's columns as they stand now; the text is joined only here."""
        fields: dict[str, Any] = {
            "content": "".join(self.text),
            "thought_process": "".join(self.reasoning) or None,
            "search_results": list(self.search_results) or None,
            "thought_signatures": list(self.signatures) or None,
            "status": self.status,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "error": self.error_text,
        }
        for kind, urls in self.media.items():
            fields[kind] = list(urls)
        return fields


class GenerationManager:
    """Runs generations, flushes them on an interval, enforces the watchdogs, drains on shutdown."""

    def __init__(
        self,
        settings: Settings,
        db: database.Database,
        bus: RedisBus | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.active: dict[int, Generation] = {}
        self.draining = False
        self._supervisor: asyncio.Task[None] | None = None
        self._recent: dict[int, tuple[float, Generation]] = {}
        self._leases_renewed = 0.0
        self._swept = 0.0

    async def start(self) -> None:
        """Recover replies a dead process left `streaming`, then start supervising."""
        if self.bus is not None:
            await self.bus.start(self.stop_local, self.local_state)
        # With several workers, a young row may be one another worker is launching right now.
        recovered = await self.recover_orphans(min_age=LEASE_TTL_SECONDS if self.bus else 0)
        if recovered:
            logger.warning("Marked %d replies left streaming by a dead process as interrupted", recovered)
        self._supervisor = asyncio.create_task(self._supervise(), name="generation-supervisor")

    async def recover_orphans(self, *, min_age: float) -> int:
        created_before = database.utcnow() - timedelta(seconds=min_age) if min_age else None
        ids = await self.db.run(database.streaming_message_ids, created_before=created_before)
        orphans = [i for i in ids if i not in self.active]
        if self.bus is not None:
            orphans = sorted(set(orphans) - await self.bus.leased(orphans))
        if orphans:
            # Guarded by status: a reply that ended meanwhile keeps its final row.
            await self.db.run(database.mark_interrupted, orphans)
        return len(orphans)

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

    def get(self, message_id: int) -> Generation | None:
        """A running generation, or one that ended moments ago (its log is still replayable)."""
        if message_id in self.active:
            return self.active[message_id]
        recent = self._recent.get(message_id)
        return recent[1] if recent else None

    async def live_state(self, message_id: int) -> dict[str, Any] | None:
        """The columns of a reply as its generation holds them now, here or on another worker.

        None when no worker runs it (or ran it moments ago): its stored row is then the truth.
        """
        generation = self.get(message_id)
        if generation is not None:
            return generation.snapshot()
        if self.bus is None or not await self.bus.leased([message_id]):
            return None
        return await self.bus.ask_state(message_id)

    def local_state(self, message_id: int) -> dict[str, Any] | None:
        generation = self.get(message_id)
        return generation.snapshot() if generation is not None else None

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

    async def launch(self, generation: Generation) -> Generation:
        if self.bus is not None:
            generation.log.mirror = self.bus.mirror(generation.message_id)
            generation.log.mirror(1, list(generation.log.events))
            await self.bus.renew_leases([generation.message_id])
        self.active[generation.message_id] = generation
        generation.task = asyncio.create_task(
            self._drive(generation), name=f"generation-{generation.message_id}"
        )
        return generation

    async def _drive(self, generation: Generation) -> None:
        try:
            await generation.run()
        finally:
            try:
                await asyncio.shield(self._store(generation))
            finally:
                generation.close_log()
                generation.started.set()
                generation.done.set()
                self.active.pop(generation.message_id, None)
                self._recent[generation.message_id] = (time.monotonic(), generation)
            if self.bus is not None:
                await self.bus.release_lease(generation.message_id)

    async def _store(self, generation: Generation) -> None:
        generation.dirty = False
        await self.db.run_core(database.update_message, generation.message_id, **generation.snapshot())

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
                if self.bus is not None:
                    await self._keep_leases()
            except Exception:
                logger.exception("Generation supervisor tick failed")

    async def _flush_dirty(self) -> None:
        dirty = [g for g in self.active.values() if g.dirty and not g.finished]
        if not dirty:
            return
        rows = {}
        for generation in dirty:
            generation.dirty = False
            rows[generation.message_id] = generation.snapshot()
        await self.db.run_core(database.update_messages, rows)

    def _keep_alive(self) -> None:
        """Ping the followers of replies quiet for KEEPALIVE_SECONDS (their wait arms no timer)."""
        now = time.monotonic()
        for generation in self.active.values():
            quiet_since = max(generation.last_event_at, generation.pinged_at)
            if generation.log.followed and now - quiet_since >= self.settings.keepalive_seconds:
                generation.pinged_at = now
                generation.log.ping()

    def _enforce_watchdogs(self) -> None:
        now = time.monotonic()
        for generation in list(self.active.values()):
            reason = self._watchdog_reason(generation, now)
            if reason is not None:
                generation.abort(reason)

    def _watchdog_reason(self, generation: Generation, now: float) -> Abort | None:
        s = self.settings
        provider = generation.provider.id
        if now - generation.began_at > s.max_generation_seconds:
            limit = f"the reply exceeded MAX_GENERATION_SECONDS={s.max_generation_seconds:g}"
            return Abort("error", "max_generation_time", ProviderTimeout(provider, limit))
        if not generation.has_output and now - generation.began_at > s.first_token_timeout:
            limit = f"no output within FIRST_TOKEN_TIMEOUT={s.first_token_timeout:g}s"
            return Abort("error", "first_token_timeout", ProviderTimeout(provider, limit))
        if generation.has_output and now - generation.last_event_at > s.stream_idle_timeout:
            limit = f"no output for STREAM_IDLE_TIMEOUT={s.stream_idle_timeout:g}s"
            return Abort("error", "idle_timeout", ProviderTimeout(provider, limit))
        if (
            s.loop_detect_chars
            and generation.grew_since_loop_check()
            and is_looping(generation.text, s.loop_detect_chars)
        ):
            loop = "stopped: the reply keeps repeating the same passage (loop detected)"
            return Abort("error", "loop_detected", ProviderError(provider, loop))
        return None

    async def _keep_leases(self) -> None:
        assert self.bus is not None
        now = time.monotonic()
        if now - self._leases_renewed > LEASE_TTL_SECONDS / 3:
            self._leases_renewed = now
            await self.bus.renew_leases(list(self.active))
        if now - self._swept > LEASE_TTL_SECONDS / 2:
            self._swept = now
            await self.recover_orphans(min_age=LEASE_TTL_SECONDS)

    def _forget_old(self) -> None:
        horizon = time.monotonic() - 60
        for message_id, (ended, _) in list(self._recent.items()):
            if ended < horizon:
                del self._recent[message_id]

    # --- shutdown ---------------------------------------------------------------------------

    async def drain(self, grace: float) -> None:
        """Refuse new chats, give running ones `grace` seconds, then store them as interrupted."""
        self.draining = True
        waiting = [asyncio.ensure_future(g.done.wait()) for g in self.active.values()]
        if waiting:
            _, pending = await asyncio.wait(waiting, timeout=grace)
            for waiter in pending:
                waiter.cancel()
        shutdown = Abort("interrupted", "shutdown", ServiceDraining("The server shut down during the reply"))
        tasks = [g.task for g in self.active.values() if g.abort(shutdown) and g.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self.bus is not None:
            await self.bus.close()


async def request_with_media(
    provider: LLMProvider, request: ProviderRequest, upload_dir: Path
) -> ProviderRequest:
    """The request with each turn's media read for this provider: providers never read uploads/."""
    support = provider.media_for(request.model)
    return request.with_media(
        await media.resolve_media(request.messages, support, provider.label, upload_dir)
    )


async def stored_media(event: GeneratedMedia, upload_dir: Path) -> MediaOutput:
    """Generated media saved under uploads/, as the `/uploads/...` URLs the reply records."""
    urls = [await media.save_generated(data, mime, upload_dir) for data, mime in event.files]
    return MediaOutput(event.kind, tuple(urls))


def is_looping(pieces: list[str], span: int, min_repeats: int = 4) -> bool:
    """Whether the reply's last `span`+ characters are one passage repeated `min_repeats`+ times.

    Candidate periods are the distances back to earlier copies of the last few characters, so a
    reply that does not repeat costs one substring search.
    """
    tail = _tail(pieces, span * 2)
    if len(tail) < span:
        return False
    probe = tail[-16:]
    found = tail.rfind(probe, 0, len(tail) - 1)
    while found >= 0:
        period = len(tail) - len(probe) - found
        repeats = max(min_repeats, -(-span // period))
        if period * repeats > len(tail):
            return False
        if tail[-period * repeats :] == tail[-period:] * repeats:
            return True
        found = tail.rfind(probe, 0, found + len(probe) - 1)
    return False


def _tail(pieces: list[str], size: int) -> str:
    collected: list[str] = []
    length = 0
    for piece in reversed(pieces):
        collected.append(piece)
        length += len(piece)
        if length >= size:
            break
    return "".join(reversed(collected))[-size:]


class ServiceDraining(Exception):
    status_code = 503

    def __init__(self, message: str = "The server is shutting down; retry the chat in a moment") -> None:
        super().__init__(message)


def stored_log(row: database.ChatMessage) -> EventLog:
    """The event log of a reply that has ended, rebuilt from its row so a resume can replay it."""
    log = EventLog()
    log.extend([{"session_id": row.session_id}, {"message_id": row.id}])
    if row.thought_process:
        log.append({"reasoning": row.thought_process})
    if row.content:
        log.append({"content": row.content})
    if row.search_results:
        log.append({"search_results": row.search_results})
    for kind, urls in (("images", row.images), ("videos", row.videos)):
        if urls:
            log.append({kind: urls})
    if row.error:
        log.append({"error": row.error})
    elif row.usage:
        log.append({"usage": row.usage})
    log.append({"done": True})
    log.close()
    return log
