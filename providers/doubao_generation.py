"""What Doubao's Seedream images and Seedance videos share: long calls, the prompt, fetched results.

Ark API reference: https://www.volcengine.com/docs/82379 (../shared/wire/doubao-ark.md).
"""

from typing import TYPE_CHECKING, Any

import httpx2
from openai import RequestOptions

from media import MIME_EXTENSIONS, guess_mime
from providers.base import Finish, ProviderRequest, ProviderSettings, StreamEvent, Turn, Usage
from providers.errors import ProviderUnavailable, map_httpx2_errors

if TYPE_CHECKING:
    from providers.doubao import DoubaoProvider


def long_call(settings: ProviderSettings) -> RequestOptions:
    # Generation takes tens of seconds to minutes: the reply's own watchdog bounds it, not
    # PROVIDER_TIMEOUT. A retry would bill a second generation, so there is none.
    timeout = httpx2.Timeout(settings.max_generation_seconds, connect=settings.timeout)
    return {"timeout": timeout, "max_retries": 0}


def prompt_turn(request: ProviderRequest) -> Turn:
    """The newest user message: its text is the prompt, its images the references."""
    return next((t for t in reversed(request.messages) if t.role == "user"), Turn("user", ""))


def references(turn: Turn) -> list[str]:
    """The prompt's images as Ark takes them: our uploads inline, other URLs as they are."""
    return [ref.data_url() for ref in turn.media]


async def download(provider: "DoubaoProvider", url: str, default_mime: str) -> tuple[bytes, str]:
    """Fetch a result from the vendor's storage (its own signed URL, not user input)."""
    with map_httpx2_errors(provider.id):
        response = await provider.http.get(url, timeout=provider.settings.timeout)
    if response.status_code != 200:
        raise ProviderUnavailable(
            provider.id, f"downloading the result failed with HTTP {response.status_code}"
        )
    mime = response.headers.get("content-type", "").partition(";")[0].strip()
    if mime not in MIME_EXTENSIONS:
        mime = guess_mime(httpx2.URL(url).path) or default_mime
    return response.content, mime


def closing(result: dict[str, Any]) -> tuple[StreamEvent, ...]:
    usage = result.get("usage")
    return (Usage(usage), Finish("stop")) if usage else (Finish("stop"),)


def failure(body: dict[str, Any], default: str = "no reason given") -> str:
    error = body.get("error") or next((i["error"] for i in body.get("data") or () if i.get("error")), None)
    if not isinstance(error, dict):
        return default
    return str(error.get("message") or error.get("code") or default)
