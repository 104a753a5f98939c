"""Gemini requests: a turn as `contents` parts, our parameters as a GenerateContentConfig.

Wire reference: ../shared/wire/gemini.md and https://ai.google.dev/api/generate-content
"""

import base64
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

from google.genai import types

from media import MediaRef, guess_mime
from providers.base import ProviderRequest, Turn
from providers.errors import ProviderBadRequest

# What a remote URL most likely holds when its extension does not say (Gemini requires a mime type).
DEFAULT_MIME = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/mpeg",
    "document": "application/pdf",
}


def generate_config(
    request: ProviderRequest, provider: str, max_generation_seconds: float
) -> types.GenerateContentConfig:
    p = request.params
    system = [request.system_prompt or "", *(t.content for t in request.messages if t.role == "system")]
    stop = p.get("stop")
    return types.GenerateContentConfig(
        system_instruction="\n\n".join(s for s in system if s) or None,
        temperature=p.get("temperature"),
        top_p=p.get("top_p"),
        max_output_tokens=p.get("max_completion_tokens", p.get("max_tokens")),
        stop_sequences=[stop] if isinstance(stop, str) else stop,
        thinking_config=thinking(p),
        tools=tools(p) or None,
        media_resolution=media_resolution(p.get("media_resolution"), provider),
        # The SDK sends its timeout as X-Server-Timeout, the deadline Google gives the whole
        # request, and uses it for every read of the stream: with PROVIDER_TIMEOUT a reply that
        # ran longer (or thought in silence longer) was cut. A streamed reply's bounds are ours:
        # MAX_GENERATION_SECONDS, and the watchdogs for its pauses.
        http_options=types.HttpOptions(timeout=int(max_generation_seconds * 1000)),
    )


def thinking(params: Mapping[str, Any]) -> types.ThinkingConfig | None:
    # https://ai.google.dev/gemini-api/docs/thinking: a level (Gemini 3) or a budget (2.5);
    # include_thoughts returns thought summaries as `thought: true` parts.
    level, budget = params.get("thinking_level"), params.get("thinking_budget")
    if level is None and budget is None:
        return None
    return types.ThinkingConfig(
        include_thoughts=True,
        thinking_level=level.upper() if level else None,
        thinking_budget=budget,
    )


def tools(params: Mapping[str, Any]) -> types.ToolListUnion:
    # https://ai.google.dev/gemini-api/docs/google-search and .../url-context
    found: types.ToolListUnion = []
    if params.get("google_search"):
        found.append(types.Tool(google_search=types.GoogleSearch()))
    if params.get("url_context"):
        found.append(types.Tool(url_context=types.UrlContext()))
    return found


def media_resolution(value: str | None, provider: str) -> types.MediaResolution | None:
    if value is None:
        return None
    name = value.strip().upper()
    name = name if name.startswith("MEDIA_RESOLUTION_") else f"MEDIA_RESOLUTION_{name}"
    if name not in types.MediaResolution.__members__:
        raise ProviderBadRequest(provider, f"media_resolution must be low, medium or high, not {value!r}")
    return types.MediaResolution[name]


def contents(turns: Iterable[Turn]) -> list[types.Content]:
    """The context as Gemini `contents`; system turns go to the system instruction instead."""
    return [content(turn) for turn in turns if turn.role != "system"]


def content(turn: Turn) -> types.Content:
    signatures = [base64.b64decode(s) for s in turn.thought_signatures]
    # A signature goes back on a part of the reply it came with (wire/gemini.md section 2):
    # the first rides on the text, any others on empty parts as the API itself sends them.
    # No empty text part otherwise: the API refuses "an empty text parameter".
    parts = []
    if turn.content:
        first = signatures.pop(0) if signatures else None
        parts.append(types.Part(text=turn.content, thought_signature=first))
    parts += [types.Part(text="", thought_signature=s) for s in signatures]
    # The media this vendor takes, read before the turn began; history it cannot take is left out.
    parts += [media_part(ref) for ref in turn.media]
    return types.Content(role="model" if turn.role == "assistant" else "user", parts=parts)


def media_part(ref: MediaRef) -> types.Part:
    if ref.data is None:
        # Gemini fetches public https URLs itself (https://ai.google.dev/gemini-api/docs/file-input-methods).
        mime = guess_mime(urlparse(ref.url).path) or DEFAULT_MIME[ref.kind]
        return types.Part(file_data=types.FileData(file_uri=ref.url, mime_type=mime))
    return types.Part(inline_data=types.Blob(data=ref.data, mime_type=ref.mime or DEFAULT_MIME[ref.kind]))
