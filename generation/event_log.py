"""The event log of one generation: the producer appends, any number of consumers replay and follow.

Events are numbered 1, 2, 3, ... in append order, so a consumer resumes after the last one it read.
Consumers receive batches: every event that is ready when they wake, so one socket write carries them.
Waiting arms no timer: the log's owner calls `ping` when its followers should send a keep-alive.

A reply's log is held for as long as it may be resumed, and nearly all of it is text deltas: a
`{"content": text}` event is kept as its text alone (the string the reply holds anyway), not as a
dict of its own, which is ~180 bytes less per chunk of every stream held. Followers get dicts.
"""

import asyncio
import itertools
from collections.abc import AsyncGenerator, Callable
from typing import Any

Event = dict[str, Any]
# An event as the log keeps it: a bare string is a `{"content": ...}` event.
Entry = Event | str


def _entry(event: Event) -> Entry:
    if len(event) == 1 and type(text := event.get("content")) is str:
        return text
    return event


def _event(entry: Entry) -> Event:
    return {"content": entry} if type(entry) is str else entry  # type: ignore[return-value]


class EventLog:
    __slots__ = ("_entries", "_waiters", "closed", "mirror")

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self.closed = False
        # One future per waiting follower, resolved with True for a keep-alive ping. A follower
        # that goes away cancels only its own future.
        self._waiters: list[asyncio.Future[bool]] = []
        # Called with (number of the first event, events) on every append, to copy them elsewhere.
        self.mirror: Callable[[int, list[Event]], None] | None = None

    def events(self, start: int = 0, stop: int | None = None) -> list[Event]:
        """The events at positions `start` to `stop` (0-based, as in a slice), as dicts."""
        return [_event(entry) for entry in self._entries[start:stop]]

    def append(self, event: Event) -> None:
        self._entries.append(_entry(event))
        if self.mirror is not None:
            self.mirror(len(self._entries), [event])
        self._wake(False)

    def extend(self, events: list[Event]) -> None:
        if events:
            self._entries.extend([_entry(event) for event in events])
            if self.mirror is not None:
                self.mirror(len(self._entries) - len(events) + 1, events)
            self._wake(False)

    @classmethod
    def of(cls, events: list[Event]) -> "EventLog":
        """A log that holds `events` and is already closed (a replay of an ended reply)."""
        log = cls()
        log._entries = [_entry(event) for event in events]
        log.closed = True
        return log

    def close(self) -> None:
        self.closed = True
        self._wake(False)

    def ping(self) -> None:
        """Have every waiting follower yield an empty batch (its cue for a keep-alive)."""
        self._wake(True)

    @property
    def followed(self) -> bool:
        """Whether a follower is waiting for the next event."""
        return bool(self._waiters)

    def _wake(self, ping: bool) -> None:
        if self._waiters:
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(ping)

    async def follow(self, after: int) -> AsyncGenerator[list[tuple[int, Event]], None]:
        """Yield batches of (number, event) after event `after`; an empty batch on each `ping`."""
        position = after
        while True:
            if position < len(self._entries):
                batch = self._entries[position:]
                yield [(number, _event(entry)) for number, entry in zip(itertools.count(position + 1), batch)]
                position += len(batch)
                continue
            if self.closed:
                return
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            if await waiter:
                yield []
