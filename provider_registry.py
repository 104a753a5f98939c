"""Which providers exist, which are configured, and their model lists (TTL-cached, with fallbacks)."""

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from config import ExtraProvider, Settings
from providers.anthropic import AnthropicProvider
from providers.base import LLMProvider, ModelInfo, ProviderSettings
from providers.cerebras import CerebrasProvider
from providers.deepseek import DeepSeekProvider
from providers.doubao import DoubaoProvider
from providers.errors import ProviderError, ProviderNotConfiguredError, UnknownProviderError
from providers.gemini import GeminiProvider
from providers.grok import GrokProvider
from providers.groq import GroqProvider
from providers.mistral import MistralProvider
from providers.nvidia import NvidiaProvider
from providers.ollama import OllamaProvider
from providers.openai import OpenAIProvider
from providers.openai_compat import OpenAICompatProvider
from providers.openrouter import OpenRouterProvider
from providers.siliconflow import SiliconFlowProvider

logger = logging.getLogger(__name__)

# Providers built for users' own keys kept at once; the least recently used is closed past it.
MAX_KEYED_PROVIDERS = 256

PROVIDERS: dict[str, type[LLMProvider]] = {
    cls.id: cls
    for cls in (
        OpenAIProvider,
        DeepSeekProvider,
        SiliconFlowProvider,
        GroqProvider,
        MistralProvider,
        GrokProvider,
        OpenRouterProvider,
        CerebrasProvider,
        NvidiaProvider,
        DoubaoProvider,
        GeminiProvider,
        AnthropicProvider,
        OllamaProvider,
    )
}


def extra_provider_class(provider_id: str) -> type[LLMProvider]:
    """An OpenAI-compatible provider declared only by `<NAME>_API_KEY` + `<NAME>_BASE_URL`."""
    return type(
        f"Extra{provider_id.title()}Provider",
        (OpenAICompatProvider,),
        {
            "id": provider_id,
            "name": provider_id.title(),
            "description": f"OpenAI-compatible vendor configured by {provider_id.upper()}_BASE_URL",
            "key_setting": f"{provider_id}_api_key",
        },
    )


def provider_ids(settings: Settings) -> list[str]:
    """Every provider id an app built from `settings` knows, configured or not, sorted."""
    return sorted({*PROVIDERS, *settings.extra_providers})


@dataclass(frozen=True, slots=True)
class ModelListing:
    provider: str
    models: list[ModelInfo]
    fallback: bool


class ProviderRegistry:
    """Provider instances built once from settings, plus the model-list cache.

    A vendor without a key (a local Ollama) is configured while its server answers: it is asked
    at start, without start-up waiting for it, and again before it is used when it has not
    answered yet or its answer is older than MODEL_CACHE_TTL, as a model list is cached.

    Args:
        settings: The app's settings; API keys and base URLs are read from it once.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._providers: dict[str, LLMProvider] = {}
        for provider_id, cls in PROVIDERS.items():
            api_key = getattr(settings, cls.key_setting) if cls.key_setting else None
            base_url = getattr(settings, cls.base_url_setting) if cls.base_url_setting else None
            self._providers[provider_id] = cls(provider_settings(settings, cls, api_key, base_url))
        for provider_id, extra in settings.extra_providers.items():
            self._providers.setdefault(provider_id, _build_extra(settings, provider_id, extra))
        self._cache: dict[str, tuple[float, list[ModelInfo]]] = {}
        self._answered: dict[str, float] = {}  # when each vendor without a key last answered
        self._probes: dict[str, asyncio.Task[None]] = {}
        # A user's own vendor key gets a provider of its own (a client and pool sending that key),
        # found again by a digest of provider and key: the key itself is no dict key kept in memory.
        self._keyed: OrderedDict[str, LLMProvider] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    async def prepare(self) -> None:
        """Build the configured vendors' pooled clients now, off the event loop, not on first use."""
        await asyncio.to_thread(self._prepare_all)

    def _prepare_all(self) -> None:
        for provider in self._providers.values():
            provider.prepare()

    def start_probes(self) -> None:
        """Ask the vendors without a key whether they answer; start-up does not wait for them."""
        for provider in self._providers.values():
            self._probe(provider)

    async def refresh(self, provider_id: str | None = None) -> None:
        """Ask again the vendors without a key (or that one) that have not answered or whose answer is stale.

        Callers at the same time share one question; a caller that is cancelled leaves it running.
        """
        chosen = [p for p in self._providers.values() if provider_id in (None, p.id)]
        probes = [probe for probe in map(self._probe, chosen) if probe is not None]
        if probes:
            await asyncio.gather(*map(asyncio.shield, probes))

    def _probe(self, provider: LLMProvider) -> asyncio.Task[None] | None:
        """The question to `provider` under way, asked now if its last answer does not hold; or None."""
        if provider.key_setting is not None:
            return None
        running = self._probes.get(provider.id)
        if running is not None and not running.done():
            return running
        answered, ttl = self._answered.get(provider.id), self.settings.model_cache_ttl
        if provider.configured and answered is not None and ttl and time.monotonic() - answered < ttl:
            return None
        task = self._probes[provider.id] = asyncio.create_task(
            self._ask(provider), name=f"probe-{provider.id}"
        )
        return task

    async def _ask(self, provider: LLMProvider) -> None:
        try:
            await provider.probe()
        except Exception:  # a probe reports what it expects as an answer: this is a fault of ours
            logger.exception("Asking %s whether it answers failed", provider.label)
        if provider.configured:
            self._answered[provider.id] = time.monotonic()

    def all(self) -> list[LLMProvider]:
        return list(self._providers.values())

    def known(self, provider_id: str) -> LLMProvider:
        """The provider with this id, configured or not; raises UnknownProviderError."""
        try:
            return self._providers[provider_id]
        except KeyError:
            raise UnknownProviderError(provider_id, sorted(self._providers)) from None

    def get(self, provider_id: str) -> LLMProvider:
        """A provider ready to call; raises when unknown or when its API key is not set."""
        provider = self.known(provider_id)
        if not provider.configured:
            raise ProviderNotConfiguredError(provider_id, provider.unconfigured_remedy())
        return provider

    async def ready(self, provider_id: str) -> LLMProvider:
        """`get`, once a vendor without a key has been asked again if its answer does not hold."""
        await self.refresh(provider_id)
        return self.get(provider_id)

    def with_key(self, provider_id: str, api_key: str) -> LLMProvider:
        """The provider `provider_id` sending `api_key` instead of the operator's (built once per key)."""
        digest = hashlib.sha256(f"{provider_id}\0{api_key}".encode()).hexdigest()
        keyed = self._keyed.get(digest)
        if keyed is None:
            base = self.known(provider_id)
            keyed = type(base)(dataclasses.replace(base.settings, api_key=api_key))
            self._keyed[digest] = keyed
            if len(self._keyed) > MAX_KEYED_PROVIDERS:
                _, evicted = self._keyed.popitem(last=False)
                # A reply still streaming through it is cut: that takes this many keys in use at once.
                task = asyncio.get_running_loop().create_task(evicted.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        self._keyed.move_to_end(digest)
        return keyed

    async def models(self, provider_id: str) -> ModelListing:
        """The vendor's models, cached for MODEL_CACHE_TTL; its fallback list when unreachable."""
        provider = self.known(provider_id)
        await self.refresh(provider_id)
        cached = self._cache.get(provider_id)
        ttl = self.settings.model_cache_ttl
        if cached and ttl and time.monotonic() - cached[0] < ttl:
            return ModelListing(provider_id, cached[1], fallback=False)
        if provider.configured:
            try:
                models = await provider.list_models()
            except ProviderError as exc:
                logger.warning("Model list unavailable, serving fallback: %s", exc)
            else:
                if ttl:
                    self._cache[provider_id] = (time.monotonic(), models)
                return ModelListing(provider_id, models, fallback=False)
        fallback = [ModelInfo(id=m, name=m) for m in provider.fallback_models]
        return ModelListing(provider_id, fallback, fallback=True)

    async def all_models(self) -> list[ModelListing]:
        return list(await asyncio.gather(*(self.models(p) for p in self._providers)))

    async def aclose(self) -> None:
        for probe in self._probes.values():
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
        await asyncio.gather(*(p.aclose() for p in [*self._providers.values(), *self._keyed.values()]))
        await asyncio.gather(*self._closing)


def provider_settings(
    settings: Settings, cls: type[LLMProvider], api_key: str | None, base_url: str | None
) -> ProviderSettings:
    """The part of the app's settings a provider of class `cls` reads."""
    return ProviderSettings(
        api_key=api_key,
        base_url=base_url,
        timeout=settings.provider_timeout,
        max_retries=settings.provider_max_retries,
        max_generation_seconds=settings.max_generation_seconds,
        proxy=settings.http_proxy,
        max_connections=settings.max_connections,
        extras={name: getattr(settings, name) for name in cls.extra_settings},
    )


def _build_extra(settings: Settings, provider_id: str, extra: ExtraProvider) -> LLMProvider:
    cls = extra_provider_class(provider_id)
    return cls(provider_settings(settings, cls, extra.api_key, extra.base_url))
