"""A circuit breaker per provider: after repeated failures a vendor is skipped for a cooldown.

Closed: calls go through. Open: the vendor failed CIRCUIT_BREAKER_FAILURES times in a row (429,
5xx, timeout, unreachable) and is skipped until CIRCUIT_BREAKER_COOLDOWN seconds have passed.
Half-open: the cooldown is over and the next call is a trial; its failure opens the circuit
again at once, its success closes it. The state is this process's own (each worker keeps one).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Circuit:
    failures: int = 0
    open_until: float = 0.0
    last_error: str | None = None


class CircuitBreaker:
    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self._circuits: dict[str, Circuit] = {}

    def available(self, provider: str) -> bool:
        circuit = self._circuits.get(provider)
        return circuit is None or self.clock() >= circuit.open_until

    def remaining(self, provider: str) -> float:
        circuit = self._circuits.get(provider)
        return max(0.0, circuit.open_until - self.clock()) if circuit else 0.0

    def failed(self, provider: str, reason: str) -> None:
        circuit = self._circuits.setdefault(provider, Circuit())
        circuit.failures += 1
        circuit.last_error = reason
        if circuit.failures >= self.threshold:
            circuit.open_until = self.clock() + self.cooldown

    def succeeded(self, provider: str) -> None:
        self._circuits.pop(provider, None)

    def state(self, provider: str) -> dict[str, Any]:
        """What GET /providers shows of it: `circuit` closed, open or half_open, and why."""
        circuit = self._circuits.get(provider)
        if circuit is None:
            return {"circuit": "closed", "failures": 0, "cooldown_remaining": 0.0, "last_error": None}
        if circuit.failures < self.threshold:
            name = "closed"
        else:
            name = "open" if not self.available(provider) else "half_open"
        return {
            "circuit": name,
            "failures": circuit.failures,
            "cooldown_remaining": round(self.remaining(provider), 3),
            "last_error": circuit.last_error,
        }
