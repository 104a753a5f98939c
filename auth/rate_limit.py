"""Failed sign-ins, counted per account and per address over a sliding window.

In-process: with several workers each counts its own failures, so an attacker spread over them
gets up to workers x the limit (docs/auth.md).
"""

import time
from collections import deque

from auth.errors import TooManyAttempts

# Tracked keys at most; past it the stalest are forgotten, so a flood of addresses is bounded in memory.
MAX_TRACKED = 100_000
# An address may fail this many times the account limit: several people may share one (a NAT).
ADDRESS_FACTOR = 4


class FailureLimiter:
    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def check(self, account: str, address: str) -> None:
        """Raise TooManyAttempts while either the account or the address is over its limit."""
        now = time.monotonic()
        for key, limit in (
            (f"account:{account}", self.max_failures),
            (f"address:{address}", self._per_address),
        ):
            recent = self._recent(key, now)
            if len(recent) >= limit:
                raise TooManyAttempts(max(1, int(recent[0] + self.window - now) + 1))

    def failed(self, account: str, address: str) -> None:
        now = time.monotonic()
        for key in (f"account:{account}", f"address:{address}"):
            self._failures.setdefault(key, deque()).append(now)
        while len(self._failures) > MAX_TRACKED:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, account: str) -> None:
        self._failures.pop(f"account:{account}", None)

    @property
    def _per_address(self) -> int:
        return self.max_failures * ADDRESS_FACTOR

    def _recent(self, key: str, now: float) -> deque[float]:
        recent = self._failures.get(key, deque())
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        return recent
