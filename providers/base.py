"""The provider interface: a normalized request in, an async iterator of typed delta events out.

Providers never format SSE, never touch the database and keep no per-request state on `self`:
anything a request produces (reasoning, citations, thought signatures) travels as an event.
"""

import functools
import ssl
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import httpx2
import openai

if TYPE_CHECKING:
    from config import Settings


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
class MediaOutput:
    """Generated media already saved under uploads/, as `/uploads/...` URLs."""

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


StreamEvent = (
    TextDelta | ReasoningDelta | SearchResults | MediaOutput | ThoughtSignature | Progress | Usage | Finish
)


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of the context sent to a vendor."""

    role: str
    content: str
    images: tuple[str, ...] = ()
    videos: tuple[str, ...] = ()
    audios: tuple[str, ...] = ()
    thought_signatures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """A chat turn as every provider sees it.

    Attributes:
        model: The vendor's model id.
        messages: The full context, oldest first, without the system prompt.
        system_prompt: Sent the way the vendor takes system instructions.
        params: Only the parameters the client sent and this provider takes, by our names.
        media_options: Media shaping settings (image_detail, fps, ...) the client sent.
    """

    model: str
    messages: tuple[Turn, ...]
    system_prompt: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    media_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    name: str
    description: str = ""
    context_length: int | None = None


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


class LLMProvider(ABC):
    """A vendor client built once per app with its pooled HTTP client.

    Subclasses declare their identity and capabilities as class attributes and implement
    `stream`; the registry reads the attributes without building anything.
    """

    id: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str] = ""
    supported: ClassVar[bool] = True
    key_setting: ClassVar[str]
    base_url_setting: ClassVar[str | None] = None
    fallback_models: ClassVar[tuple[str, ...]] = ()
    common_params: ClassVar[frozenset[str]] = COMMON_PARAMS
    extra_params: ClassVar[frozenset[str]] = frozenset()
    media_params: ClassVar[frozenset[str]] = frozenset()
    # Media kinds ("image", "video", "audio") the vendor takes in messages; media of another kind
    # is refused with 422 before anything is stored (media.check_media). A provider that does not
    # narrow these handles every kind itself; the OpenAI-compatible base narrows them to images.
    media_kinds: ClassVar[frozenset[str]] = frozenset({"image", "video", "audio"})
    # Kinds the vendor fetches itself from an https:// URL; any other kind must arrive as bytes.
    remote_media_kinds: ClassVar[frozenset[str]] = frozenset({"image", "video", "audio"})
    # MIME types taken per kind, where the vendor is choosy (a kind not listed takes any type).
    media_mimes: ClassVar[Mapping[str, frozenset[str]]] = {}

    def __init__(self, settings: "Settings", *, api_key: str | None, base_url: str | None) -> None:
        self.settings = settings
        self.api_key = api_key
        self.base_url = base_url

    @classmethod
    def key_variable(cls) -> str:
        """The environment variable that configures this provider."""
        return cls.key_setting.upper()

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    def accepts(self, param: str, model: str) -> bool:
        """Whether a chat-request field is forwarded to (or used for) this vendor's `model`."""
        return param in self.common_params or param in self.extra_params

    def check_params(self, params: Mapping[str, Any]) -> None:  # noqa: B027 - most take any value
        """Refuse a parameter value the vendor cannot take (ProviderBadRequest), before anything is stored."""

    @abstractmethod
    def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        """Yield the reply as typed events; raise a ProviderError when the vendor fails."""

    @abstractmethod
    async def list_models(self) -> list[ModelInfo]:
        """Ask the vendor for its models; raise a ProviderError when it cannot answer."""

    def prepare(self) -> None:  # noqa: B027 - providers without a client have nothing to build
        """Build pooled clients ahead of the first request (called in a thread at start-up)."""

    async def aclose(self) -> None:  # noqa: B027 - most providers hold nothing to release
        """Release pooled connections at shutdown."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every vendor client: building each loads the CA bundle (tens of ms)."""
    return httpx2.create_ssl_context()


def pool_options(settings: "Settings") -> dict[str, Any]:
    """httpx2 client options shared by every vendor: proxy, TLS, and a pool sized for our streams."""
    return {
        "proxy": settings.http_proxy,
        "verify": tls_context(),
        "limits": httpx2.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=min(settings.max_connections, 200),
        ),
    }


def vendor_http_client(settings: "Settings") -> httpx2.AsyncClient:
    """The httpx2 client both SDKs send through, on the openai SDK's aiohttp transport.

    httpx2's own transport parses HTTP in pure Python (h11) and wraps every read of a chunk in
    several layers of async iterators; aiohttp parses in C. A paced reply's chunks arrive one
    read each, so this is most of what relaying a chunk costs (see docs/benchmarks.md).
    """
    return openai.DefaultAioHttpClient(**pool_options(settings))
