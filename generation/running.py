"""A reply being produced: a task of its own, the producer of an event log that streams consume.

The generation is not tied to the HTTP request that started it: a client that leaves does not
take the reply with it unless its leaving is its Stop (see routers/chat.py). Text accumulates in
memory (`Reply`); the manager's supervisor flushes it and enforces the watchdogs, so the per-chunk
path does no I/O and arms no timer.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import media
from generation.event_log import EventLog
from generation.once import Once
from generation.reply import Reply, advanced, opening
from generation.watchdogs import Abort, Pace
from providers.base import GeneratedMedia, LLMProvider, MediaOutput, ProviderRequest, StreamEvent
from providers.errors import ProviderError, ProviderUnavailable

logger = logging.getLogger(__name__)


class Generation:
    """One assistant reply being produced.

    Attributes:
        message_id: The assistant row this generation writes.
        session_id: Its session.
        reply: What the reply holds so far, and how it ended.
        log: Numbered events for streams, starting with session_id and message_id.
        error: The failure that ended it, if one did.
    """

    # Slots: one per reply held, no instance dict.
    __slots__ = (
        "_abort",
        "_running",
        "_start",
        "dirty",
        "done",
        "ended",
        "error",
        "leaving_stops",
        "log",
        "message_id",
        "own_files",
        "pace",
        "provider",
        "reply",
        "request",
        "session_id",
        "task",
        "upload_dir",
    )

    def __init__(
        self,
        *,
        session_id: int,
        message_id: int,
        provider: LLMProvider,
        request: ProviderRequest,
        upload_dir: Path,
        reply: Reply | None = None,
        own_files: Callable[[list[str]], Awaitable[None]] | None = None,
    ) -> None:
        self.session_id = session_id
        self.message_id = message_id
        self.provider = provider
        self.request = request
        self.upload_dir = upload_dir
        # Records generated files as the session owner's (files under uploads/, by name).
        self.own_files = own_files
        self.reply = reply or Reply()
        self.log = EventLog()
        self.log.extend(opening(session_id, message_id))
        # Where the reply stood before its first event: a stop cuts it back to a count of events.
        self._start = self.reply.mark()
        self.pace = Pace()
        self.error: Exception | None = None
        self.dirty = False  # changed since it was last stored
        # Streams of it whose client's leaving is that client's Stop (see routers/chat.py).
        self.leaving_stops = 0
        self.ended = Once()  # its final state is set (the row may not be stored yet)
        self.done = Once()  # its final row is stored
        self.task: asyncio.Task[None] | None = None
        self._running = False
        self._abort: Abort | None = None

    @property
    def finished(self) -> bool:
        return self.done.is_set()

    def abort(self, reason: Abort, *, cut_at: int | None = None) -> bool:
        """End the generation now (stop, watchdog, shutdown); False if it already ended.

        The reply takes its final state at once, so a read that follows sees what will be stored.
        `cut_at` keeps only what the first `cut_at` events of the log carried: the text a client
        that left had been sent, no more.
        """
        if self.reply.ended or self.task is None:
            return False
        self._abort = reason
        if cut_at is not None:
            first = len(opening(self.session_id, self.message_id))
            self.reply.cut(advanced(self._start, self.log.events(first, cut_at)))
        self._end(reason.status, reason.finish_reason, reason.error)
        # A task cancelled before its first step never runs its clean-up (the final store): one
        # that has not started yet finds the reason when it does, and ends at once.
        if self._running:
            self.task.cancel()
        return True

    async def run(self) -> None:
        self._running = True
        if self._abort is not None:
            return  # aborted before it started: abort() has set the final state
        try:
            # The turn's media are read here, in the generation's task: providers never read uploads/.
            request = await request_with_media(self.provider, self.request, self.upload_dir)
            async for event in self.provider.stream(request):
                if type(event) is GeneratedMedia:
                    event = await stored_media(event, self.upload_dir)
                    if self.own_files is not None:
                        await self.own_files([url.removeprefix(media.UPLOAD_PREFIX) for url in event.urls])
                first = not self.pace.has_output
                self._apply(event)
                if first and self.pace.has_output:
                    self.pace.first_output_at = time.monotonic()
                    # Let the stream write the first output before a burst of buffered chunks is parsed.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            if self._abort is None:
                self._end("interrupted", "interrupted", None)
                raise
        except ProviderError as exc:
            self._end_unless_aborted("error", "error", exc)
        except Exception as exc:  # a reply we could not handle must still end, stored and explained
            logger.exception("Generation %s failed", self.message_id)
            failure = ProviderUnavailable(self.provider.id, f"could not process the vendor's reply ({exc})")
            self._end_unless_aborted("error", "error", failure)
        else:
            self._end_unless_aborted("complete", self.reply.finish_reason or "stop", None)

    def _apply(self, event: StreamEvent) -> None:
        self.pace.last_event_at = time.monotonic()
        rendered = self.reply.apply(event)
        if rendered is not None:
            self.log.append(rendered)
            self.dirty = True
            self.pace.has_output = True

    def _end_unless_aborted(self, status: str, finish_reason: str, error: Exception | None) -> None:
        # An abort has already set the final state; what the stream did while closing is moot.
        if self._abort is None:
            self._end(status, finish_reason, error)

    def _end(self, status: str, finish_reason: str, error: Exception | None) -> None:
        self.error = error
        self.reply.end(status, finish_reason, str(error) if error is not None else None)
        self.dirty = True
        self.ended.set()

    def close_log(self) -> None:
        """Publish the closing events, once the final row is stored.

        A client that sees `done` and sends its next turn at once then finds this reply in the history.
        """
        self.log.extend(self.reply.closing())
        self.log.close()


async def request_with_media(
    provider: LLMProvider, request: ProviderRequest, upload_dir: Path
) -> ProviderRequest:
    """The request with each turn's media read for what this provider's model takes."""
    support = provider.media_for(request.model)
    return request.with_media(
        await media.resolve_media(request.messages, support, provider.label, upload_dir)
    )


async def stored_media(event: GeneratedMedia, upload_dir: Path) -> MediaOutput:
    """Generated media saved under uploads/, as the `/uploads/...` URLs the reply records."""
    urls = [await media.save_generated(data, mime, upload_dir) for data, mime in event.files]
    return MediaOutput(event.kind, tuple(urls))
