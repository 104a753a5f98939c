"""The front door's state, built once in the app's lifespan: model routes, circuit breaker, prices."""

from dataclasses import dataclass

from config import Settings
from gateway.breaker import CircuitBreaker
from gateway.pricing import PriceTable
from gateway.routing import Routes, load_aliases
from provider_registry import provider_ids


@dataclass(frozen=True, slots=True)
class Gateway:
    routes: Routes
    breaker: CircuitBreaker
    prices: PriceTable

    @classmethod
    def build(cls, settings: Settings) -> "Gateway":
        return cls(
            routes=Routes(load_aliases(settings), provider_ids(settings)),
            breaker=CircuitBreaker(settings.circuit_breaker_failures, settings.circuit_breaker_cooldown),
            prices=PriceTable.load(settings.price_table_file),
        )
