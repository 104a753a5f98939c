"""A call's vendor targets tried in order: the next one answers when one fails before its first byte.

A failure that another vendor may not share (429, 5xx, a timeout, no connection) moves on to the
next target and counts against the failed vendor's circuit; any other failure (a refused request,
a rejected key) ends the call, as it would end every target the same way. Once a target has sent
anything, its failures are the reply's, as for any chat turn.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from gateway.breaker import CircuitBreaker
from gateway.pricing import PriceTable
from generation.running import request_with_media
from media import MediaSupport
from providers.base import LLMProvider, ModelInfo, ProviderRequest, Routed, StreamEvent, Usage
from providers.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)

# The failures before the first byte that the next target may not share.
RETRYABLE = (ProviderRateLimited, ProviderUnavailable, ProviderTimeout)


@dataclass(frozen=True, slots=True)
class Attempt:
    provider: LLMProvider
    request: ProviderRequest


class FallbackChain(LLMProvider):
    """The provider a front-door call's generation runs: its attempts, one after another."""

    id = "gateway"
    name = "OpenAI-compatible front door"
    key_setting: ClassVar[str | None] = None

    def __init__(
        self,
        attempts: list[Attempt],
        breaker: CircuitBreaker,
        prices: PriceTable,
        upload_dir: Path,
        user: str | None = None,
    ) -> None:
        super().__init__(attempts[0].provider.settings)
        self.user = user
        self.attempts = attempts
        self.breaker = breaker
        self.prices = prices
        self.upload_dir = upload_dir

    @property
    def label(self) -> str:
        return self.attempts[0].provider.label

    def media_for(self, model: str) -> MediaSupport:
        # Each attempt's media are read for its own vendor, in `stream`.
        return MediaSupport()

    async def list_models(self) -> list[ModelInfo]:
        return []

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        failure: ProviderError | None = None
        for attempt in self.attempts:
            provider = attempt.provider
            if not self.breaker.available(provider.id):
                wait = self.breaker.remaining(provider.id)
                failure = ProviderUnavailable(
                    provider.id, f"skipped for {wait:.0f} s more after repeated failures (circuit open)"
                )
                continue
            answered = False
            try:
                sent = await request_with_media(provider, attempt.request, self.upload_dir)
                async for event in provider.stream(sent):
                    if not answered:
                        answered = True
                        yield Routed(provider.id, sent.model)
                    yield self._priced(event, provider.id, sent.model)
            except RETRYABLE as exc:
                self.breaker.failed(provider.id, str(exc))
                if answered:
                    raise
                failure = exc
                continue
            self.breaker.succeeded(provider.id)
            if not answered:
                yield Routed(provider.id, sent.model)
            return
        assert failure is not None  # a chain has at least one attempt
        raise failure

    def _priced(self, event: StreamEvent, provider: str, model: str) -> StreamEvent:
        if type(event) is not Usage:
            return event
        # The usage row is the call's account: what it cost, and whom /usage?group_by=user counts it for.
        account = {"cost": self.prices.cost(provider, model, event.data), "user": self.user}
        return Usage({**event.data, **{k: v for k, v in account.items() if v is not None}})
