"""The provider interface: a normalized request in, an async iterator of typed delta events out.

Providers never format SSE, never touch the database and keep no per-request state on `self`:
anything a request produces (reasoning, citations, thought signatures) travels as an event.
They never touch the upload folder either: a turn's media arrive already read (`Turn.media`),
and generated media leave as bytes (`GeneratedMedia`), stored by the generation through `media`.
"""

import functools
import ssl
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Generic, TypeVar

import httpx2
import openai

from media import MediaRef, MediaSupport
from observability.request_id import send_request_id


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class SearchResults:
    """Sources the answer cites, each `{"title", "url", "content"}`."""

    items: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class GeneratedMedia:
    """Media the vendor produced, as bytes; the generation stores them and records a MediaOutput.

    Attributes:
        kind: The contract's key ("images", "videos").
        files: Each file's bytes and MIME type. One event is one batch: a set of images reaches
            the client as one `images` event.
    """

    kind: str
    files: tuple[tuple[bytes, str], ...]


@dataclass(frozen=True, slots=True)
class MediaOutput:
    """Generated media saved under uploads/, as `/uploads/...` URLs (made from GeneratedMedia)."""

    kind: str
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ThoughtSignature:
    value: str


@dataclass(frozen=True, slots=True)
class Progress:
    """A long-running vendor task is alive (video generation polling)."""

    status: str
    percent: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """Pieces of the function calls the model makes, as Chat Completions' `delta.tool_calls` items.

    Each item carries its `index`; the first piece of a call also its `id`, `type` and function name,
    later ones more of its `arguments` text.
    """

    calls: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Routed:
    """Which vendor and model answered, when a request could go to several (a model alias's fallbacks)."""

    provider: str
    model: str


StreamEvent = (
    TextDelta
    | ReasoningDelta
    | SearchResults
    | GeneratedMedia
    | MediaOutput
    | ThoughtSignature
    | Progress
    | Usage
    | Finish
    | ToolCallDelta
    | Routed
)


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of the context sent to a vendor.

    Attributes:
        images: The message's references as stored (`/uploads/...`, `data:` or `https://` URLs);
            likewise `videos`, `audios` and `documents` (PDFs).
        media: Those of them this provider takes, read (`media.resolve_media`) before the provider
            sees the request, images first. Providers build their parts from these only.
        thought_signatures: What the vendor that wrote this reply gave to be sent back with it
            (opaque to us); empty when another vendor wrote it.
        reasoning: The reply's stored reasoning text (its `thought_process`).
    """

    role: str
    content: str
    images: tuple[str, ...] = ()
    videos: tuple[str, ...] = ()
    audios: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    thought_signatures: tuple[str, ...] = ()
    media: tuple[MediaRef, ...] = ()
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """A chat turn as every provider sees it.

    Attributes:
        model: The vendor's model id.
        messages: The full context, oldest first, without the system prompt.
        system_prompt: Sent the way the vendor takes system instructions.
        params: Only the parameters the client sent and this provider takes, by our names.
        media_options: Media shaping settings (image_detail, fps, ...) the client sent.
        wire_messages: The context in Chat Completions' own form (system messages, tool calls and
            results included), as a client of the OpenAI-compatible front door sent it; a vendor
            that `speaks_openai` sends these instead of `messages` and `system_prompt`.
    """

    model: str
    messages: tuple[Turn, ...]
    system_prompt: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    media_options: Mapping[str, Any] = field(default_factory=dict)
    wire_messages: tuple[dict[str, Any], ...] | None = None

    def with_media(self, media: Sequence[tuple[MediaRef, ...]]) -> "ProviderRequest":
        """This request with each turn's resolved media (one tuple a turn, in order)."""
        if not any(media):
            return self
        turns = tuple(replace(turn, media=refs) for turn, refs in zip(self.messages, media, strict=True))
        return replace(self, messages=turns)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    name: str
    description: str = ""
    context_length: int | None = None
    details: Mapping[str, Any] | None = None  # what the vendor says of it besides (Ollama's size, family)


# Generic sampling parameters of the chat request; a provider takes those it declares.
COMMON_PARAMS = frozenset(
    {
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "frequency_penalty",
        "presence_penalty",
        "top_p",
        "stop",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSettings:
    """What a provider is given of the app's settings; the registry builds one per provider.

    Attributes:
        api_key: The vendor's key; None leaves the provider unconfigured.
        base_url: Where the vendor is reached (None: the SDK's default).
        timeout: PROVIDER_TIMEOUT, seconds to reach the vendor and for its answer to begin.
        max_retries: PROVIDER_MAX_RETRIES.
        max_generation_seconds: MAX_GENERATION_SECONDS, the bound of a whole reply.
        proxy: HTTP_PROXY for outbound calls.
        max_connections: MAX_CONNECTIONS of the provider's pooled HTTP client.
        extras: The settings a vendor declares in `extra_settings`, by their names.
    """

    api_key: str | None
    base_url: str | None
    timeout: float
    max_retries: int
    max_generation_seconds: float
    proxy: str | None
    max_connections: int
    extras: Mapping[str, Any] = field(default_factory=dict)


class LLMProvider(ABC):
    """A vendor client built once per app with its pooled HTTP client.

    Subclasses declare their identity and capabilities as class attributes and implement
    `stream`; the registry reads the attributes without building anything.
    """

    id: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str] = ""
    supported: ClassVar[bool] = True
    # The Settings field of its API key. None: a vendor without a key (a local server), configured
    # when it answers; the registry asks it (`probe`) at start and again when that answer is stale.
    key_setting: ClassVar[str | None]
    base_url_setting: ClassVar[str | None] = None
    # Further settings the vendor reads (names of Settings fields), handed over in `extras`.
    extra_settings: ClassVar[tuple[str, ...]] = ()
    fallback_models: ClassVar[tuple[str, ...]] = ()
    common_params: ClassVar[frozenset[str]] = COMMON_PARAMS
    extra_params: ClassVar[frozenset[str]] = frozenset()
    media_params: ClassVar[frozenset[str]] = frozenset()
    # The media the vendor takes in messages: media of another kind is refused with 422 before
    # anything is stored (media.check_media). A provider that does not narrow it handles every
    # kind itself; the OpenAI-compatible base narrows it to images in user messages.
    media: ClassVar[MediaSupport] = MediaSupport()
    # Whether the vendor speaks Chat Completions: it then takes a request's `wire_messages`, tools,
    # tool_choice and response_format as they are (the OpenAI-compatible front door relies on it).
    speaks_openai: ClassVar[bool] = False

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    @classmethod
    def key_variable(cls) -> str:
        """The environment variable that configures this provider."""
        return (cls.key_setting or cls.base_url_setting or cls.id).upper()

    def unconfigured_remedy(self) -> str:
        """What configures it, as the error of a request sent to it unconfigured says."""
        return f"set the {self.key_variable()} environment variable"

    @property
    def label(self) -> str:
        """How errors name this provider: `Provider 'gemini' (Gemini)`."""
        return f"Provider '{self.id}' ({self.name})"

    @property
    def configured(self) -> bool:
        return bool(self.settings.api_key)

    def accepts(self, param: str, model: str) -> bool:
        """Whether a chat-request field is forwarded to (or used for) this vendor's `model`."""
        return param in self.common_params or param in self.extra_params

    def media_for(self, model: str) -> MediaSupport:
        """The media a request to `model` carries; a vendor narrows it for models that take fewer."""
        return self.media

    def check_params(self, params: Mapping[str, Any], model: str) -> None:  # noqa: B027 - most take any value
        """Refuse a value `model` cannot take (ProviderBadRequest), before anything is stored."""

    @abstractmethod
    def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        """Yield the reply as typed events; raise a ProviderError when the vendor fails."""

    @abstractmethod
    async def list_models(self) -> list[ModelInfo]:
        """Ask the vendor for its models; raise a ProviderError when it cannot answer."""

    def prepare(self) -> None:  # noqa: B027 - providers without a client have nothing to build
        """Build pooled clients ahead of the first request (called in a thread at start-up)."""

    async def probe(self) -> None:  # noqa: B027 - a vendor with a key is configured by it
        """Ask a vendor without a key whether it answers, and remember it in `configured`."""

    async def aclose(self) -> None:  # noqa: B027 - most providers hold nothing to release
        """Release pooled connections at shutdown."""


ClientT = TypeVar("ClientT")


class PooledProvider(LLMProvider, Generic[ClientT]):
    """A provider that sends through one SDK client over one pooled httpx2 client.

    Both are built on first use, so an unconfigured vendor costs nothing, or by `prepare` at
    start-up; `aclose` releases them. A subclass says how its SDK client is made.
    """

    @abstractmethod
    def build_client(self, http: httpx2.AsyncClient) -> ClientT:
        """The SDK client, sending through `http`."""

    async def close_client(self, client: ClientT) -> None:  # noqa: B027 - most SDKs hold only the pool
        """Release what the SDK client holds besides the pooled HTTP client (closed after it)."""

    @functools.cached_property
    def http(self) -> httpx2.AsyncClient:
        """The pooled HTTP client, for calls the SDK does not make (downloading a result)."""
        return vendor_http_client(self.settings)

    @functools.cached_property
    def client(self) -> ClientT:
        """The pooled SDK client."""
        return self.build_client(self.http)

    def prepare(self) -> None:
        if self.configured:
            self.client  # noqa: B018 - builds the pooled clients

    async def aclose(self) -> None:
        # cached_property keeps what was built in the instance's __dict__: close only that.
        if "client" in self.__dict__:
            await self.close_client(self.client)
        if "http" in self.__dict__:
            await self.http.aclose()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every vendor client: building each loads the CA bundle (tens of ms)."""
    return httpx2.create_ssl_context()


def pool_options(settings: ProviderSettings) -> dict[str, Any]:
    """httpx2 client options shared by every vendor: proxy, TLS, and a pool sized for our streams."""
    return {
        "proxy": settings.proxy,
        "verify": tls_context(),
        "limits": httpx2.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=min(settings.max_connections, 200),
        ),
        # Once per vendor request (not per chunk): the turn's request id, for the vendor's logs.
        "event_hooks": {"request": [send_request_id]},
    }


def vendor_http_client(settings: ProviderSettings) -> httpx2.AsyncClient:
    """The httpx2 client both SDKs send through, on the openai SDK's aiohttp transport.

    httpx2's own transport parses HTTP in pure Python (h11) and wraps every read of a chunk in
    several layers of async iterators; aiohttp parses in C. A paced reply's chunks arrive one
    read each, so this is most of what relaying a chunk costs (see docs/benchmarks.md).
    """
    return openai.DefaultAioHttpClient(**pool_options(settings))
