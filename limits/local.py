"""Limits counted in this process: one worker's view, exact for a single worker."""

import time
from collections import Counter, deque

from limits.slots import Slot

# The rate is counted over the last minute (a sliding window): no burst of twice the limit across
# the turn of a clock minute.
WINDOW = 60.0


class LocalLimits:
    """Requests in the last minute and generations at once, per client key."""

    def __init__(self, per_minute: int, concurrent: int) -> None:
        self.per_minute = per_minute
        self.concurrent = concurrent
        self._requests: dict[str, deque[float]] = {}
        self._running: Counter[str] = Counter()

    async def hit(self, key: str) -> float | None:
        """Count a request; None if it is within the limit, else the seconds until one would be.

        A refused request is not counted: a client that retries too early does not push its turn back.
        """
        now = time.monotonic()
        self._forget(now)
        times = self._requests.setdefault(key, deque())
        if len(times) >= self.per_minute:
            return times[0] + WINDOW - now
        times.append(now)
        return None

    def _forget(self, now: float) -> None:
        for key, times in list(self._requests.items()):
            while times and times[0] <= now - WINDOW:
                times.popleft()
            if not times:
                del self._requests[key]

    async def acquire(self, key: str) -> Slot | None:
        """A generation slot, or None when `key` already runs `concurrent` of them."""
        if self._running[key] >= self.concurrent:
            return None
        self._running[key] += 1

        async def release() -> None:
            self._running[key] -= 1
            if self._running[key] <= 0:
                del self._running[key]

        return Slot(release)

    async def close(self) -> None:
        return None
