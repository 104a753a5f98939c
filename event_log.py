"""The event log of one generation: the producer appends, any number of consumers replay and follow.

Events are numbered 1, 2, 3, ... in append order, so a consumer resumes after the last one it read.
Consumers receive batches: every event that is ready when they wake, so one socket write carries them.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

Event = dict[str, Any]


class EventLog:
    __slots__ = ("_changed", "closed", "events", "mirror")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = False
        self._changed: asyncio.Future[None] | None = None
        # Called with (number of the first event, events) on every append, to copy them elsewhere.
        self.mirror: Callable[[int, list[Event]], None] | None = None

    def append(self, event: Event) -> None:
        self.events.append(event)
        if self.mirror is not None:
            self.mirror(len(self.events), [event])
        self._wake()

    def extend(self, events: list[Event]) -> None:
        if events:
            self.events.extend(events)
            if self.mirror is not None:
                self.mirror(len(self.events) - len(events) + 1, events)
            self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        # One future shared by every waiting consumer, made only when someone waits.
        if self._changed is not None:
            if not self._changed.done():
                self._changed.set_result(None)
            self._changed = None

    async def follow(self, after: int, idle: float) -> AsyncIterator[list[tuple[int, Event]]]:
        """Yield batches of (number, event) after event `after`; an empty batch after `idle` s quiet."""
        position = after
        while True:
            if position < len(self.events):
                batch = self.events[position:]
                yield [(position + i + 1, event) for i, event in enumerate(batch)]
                position += len(batch)
                continue
            if self.closed:
                return
            if self._changed is None:
                self._changed = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._changed), idle)
            except TimeoutError:
                yield []
