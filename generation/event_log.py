"""The event log of one generation: the producer appends, any number of consumers replay and follow.

Events are numbered 1, 2, 3, ... in append order, so a consumer resumes after the last one it read.
Consumers receive batches: every event that is ready when they wake, so one socket write carries them.
Waiting arms no timer: the log's owner calls `ping` when its followers should send a keep-alive.
"""

import asyncio
import itertools
from collections.abc import AsyncGenerator, Callable
from typing import Any

Event = dict[str, Any]


class EventLog:
    __slots__ = ("_waiters", "closed", "events", "mirror")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = False
        # One future per waiting follower, resolved with True for a keep-alive ping. A follower
        # that goes away cancels only its own future.
        self._waiters: list[asyncio.Future[bool]] = []
        # Called with (number of the first event, events) on every append, to copy them elsewhere.
        self.mirror: Callable[[int, list[Event]], None] | None = None

    def append(self, event: Event) -> None:
        self.events.append(event)
        if self.mirror is not None:
            self.mirror(len(self.events), [event])
        self._wake(False)

    def extend(self, events: list[Event]) -> None:
        if events:
            self.events.extend(events)
            if self.mirror is not None:
                self.mirror(len(self.events) - len(events) + 1, events)
            self._wake(False)

    @classmethod
    def of(cls, events: list[Event]) -> "EventLog":
        """A log that holds `events` and is already closed (a replay of an ended reply)."""
        log = cls()
        log.events = list(events)
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
            if position < len(self.events):
                batch = self.events[position:]
                yield list(zip(itertools.count(position + 1), batch))
                position += len(batch)
                continue
            if self.closed:
                return
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            if await waiter:
                yield []
