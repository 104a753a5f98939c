"""Gemini through Google's google-genai SDK: streamed chat, thinking, grounding, media in, images out.

The wire differs from OpenAI's everywhere (contents/parts, thought parts and signatures, grounding
metadata, safety blocks), so this vendor has its own module on the shared `LLMProvider` base.
Wire reference: ../shared/wire/gemini.md and https://ai.google.dev/api/generate-content
"""

import base64
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast
from urllib.parse import urlparse

import httpx2
from google import genai
from google.genai import types

import media
from providers.base import (
    Finish,
    LLMProvider,
    MediaOutput,
    ModelInfo,
    ProviderRequest,
    ReasoningDelta,
    SearchResults,
    StreamEvent,
    TextDelta,
    ThoughtSignature,
    Turn,
    Usage,
    tls_context,
    vendor_http_client,
)
from providers.errors import ProviderBadRequest, ProviderBlocked, map_genai_errors
from providers.sse import bound_event_stream_lines

if TYPE_CHECKING:
    from config import Settings

# Finish reasons meaning the vendor withheld the reply; anything else ends it normally.
# https://ai.google.dev/api/generate-content#FinishReason
BLOCKED_FINISH = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"}
    | {"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"}
)
# What a remote URL most likely holds when its extension does not say (Gemini requires a mime type).
DEFAULT_MIME = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/mpeg"}
# Our Imagen parameters -> `:predict` parameters (wire/gemini.md section 7).
IMAGEN_PARAMETERS = {
    "imagen_number_of_images": "sampleCount",
    "imagen_image_size": "sampleImageSize",
    "imagen_aspect_ratio": "aspectRatio",
    "imagen_person_generation": "personGeneration",
}


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What a Gemini API model id can do; the one place model ids are looked at."""

    imagen: bool = False


def profile_for(model_id: str) -> ModelProfile:
    # Imagen models only take `:predict` (https://ai.google.dev/gemini-api/docs/imagen).
    return ModelProfile(imagen=model_id.removeprefix("models/").startswith("imagen"))


class GeminiProvider(LLMProvider):
    id = "gemini"
    name = "Gemini"
    description = "Google Gemini (google-genai SDK): thinking, Google Search grounding, media, Imagen"
    key_setting = "gemini_api_key"
    base_url_setting = "gemini_base_url"
    # Pinned: google-genai 3.x defaults to `v1`, which lacks preview fields (thinkingLevel, urlContext).
    api_version: ClassVar[str] = "v1beta"
    fallback_models: ClassVar[tuple[str, ...]] = (
        "gemini-2.5-flash",
        "gemini-2.5-pro",
        "gemini-2.5-flash-lite",
        "gemini-3-pro-preview",
        "imagen-4.0-generate-001",
    )
    common_params = frozenset({"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop"})
    extra_params = frozenset(
        {"thinking_level", "thinking_budget", "media_resolution", "google_search", "url_context"}
        | set(IMAGEN_PARAMETERS)
    )
    # No GIF (https://ai.google.dev/gemini-api/docs/image-understanding#supported-formats);
    # video and audio take every format our uploads accept.
    media_mimes = {"image": frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})}

    def __init__(self, settings: "Settings", *, api_key: str | None, base_url: str | None) -> None:
        super().__init__(settings, api_key=api_key, base_url=base_url)
        self._client: genai.Client | None = None
        self._http: httpx2.AsyncClient | None = None

    @property
    def client(self) -> genai.Client:
        """The pooled SDK client, built on first use so an unconfigured vendor costs nothing."""
        if self._client is None:
            s = self.settings
            retries = s.provider_max_retries
            self._http = vendor_http_client(s)
            self._http.event_hooks["response"].append(bound_event_stream_lines)
            options = types.HttpOptions(
                base_url=self.base_url,
                api_version=self.api_version,
                # Milliseconds; the SDK's default of None would override the HTTP client's timeout.
                timeout=int(s.provider_timeout * 1000),
                retry_options=types.HttpRetryOptions(attempts=retries + 1) if retries else None,
                # Ours, not one the SDK makes: with aiohttp installed it would open an aiohttp
                # session of its own, without our pool, proxy and TLS settings.
                httpx_async_client=self._http,
                client_args={"verify": tls_context()},
            )
            # vertexai=False: a GOOGLE_GENAI_USE_VERTEXAI in the environment must not re-route us.
            self._client = genai.Client(vertexai=False, api_key=self.api_key, http_options=options)
        return self._client

    def prepare(self) -> None:
        if self.configured:
            self.client  # noqa: B018 - builds the pooled client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            if self._http is not None:  # the SDK leaves a client it was given open
                await self._http.aclose()
            self._client.close()  # the SDK builds a sync pool too; nothing is ever sent on it

    # --- chat -------------------------------------------------------------------------------

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        if profile_for(request.model).imagen:
            async for event in self._imagen(request):
                yield event
            return
        contents = [await self._content(turn) for turn in request.messages if turn.role != "system"]
        config = self._config(request)
        seen_urls: set[str] = set()
        usage: types.GenerateContentResponseUsageMetadata | None = None
        with map_genai_errors(self.id):
            chunks = await self.client.aio.models.generate_content_stream(
                model=request.model, contents=contents, config=config
            )
            # Leaving this block (end, error, or a stop cancelling us) closes the upstream connection.
            async with aclosing(cast(AsyncGenerator[types.GenerateContentResponse, None], chunks)):
                async for chunk in chunks:
                    for event in chunk_events(chunk, self.id, seen_urls):
                        yield event
                    images = [
                        await media.save_generated(data, mime, self.settings.upload_dir)
                        for data, mime in inline_images(chunk)
                    ]
                    if images:
                        yield MediaOutput("images", tuple(images))
                    # Every chunk repeats the cumulative usage; the last one is the total.
                    usage = chunk.usage_metadata or usage
        if usage is not None:
            yield Usage(usage_data(usage))

    def _config(self, request: ProviderRequest) -> types.GenerateContentConfig:
        p = request.params
        system = [request.system_prompt or "", *(t.content for t in request.messages if t.role == "system")]
        stop = p.get("stop")
        return types.GenerateContentConfig(
            system_instruction="\n\n".join(s for s in system if s) or None,
            temperature=p.get("temperature"),
            top_p=p.get("top_p"),
            max_output_tokens=p.get("max_completion_tokens", p.get("max_tokens")),
            stop_sequences=[stop] if isinstance(stop, str) else stop,
            thinking_config=self._thinking(p),
            tools=self._tools(p) or None,
            media_resolution=self._media_resolution(p.get("media_resolution")),
            # The SDK sends its timeout as X-Server-Timeout, the deadline Google gives the whole
            # request, and uses it for every read of the stream: with PROVIDER_TIMEOUT a reply that
            # ran longer (or thought in silence longer) was cut. A streamed reply's bounds are ours:
            # MAX_GENERATION_SECONDS, and the watchdogs for its pauses.
            http_options=types.HttpOptions(timeout=int(self.settings.max_generation_seconds * 1000)),
        )

    def _thinking(self, params: Any) -> types.ThinkingConfig | None:
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

    def _tools(self, params: Any) -> types.ToolListUnion:
        # https://ai.google.dev/gemini-api/docs/google-search and .../url-context
        tools: types.ToolListUnion = []
        if params.get("google_search"):
            tools.append(types.Tool(google_search=types.GoogleSearch()))
        if params.get("url_context"):
            tools.append(types.Tool(url_context=types.UrlContext()))
        return tools

    def check_params(self, params: Mapping[str, Any]) -> None:
        self._media_resolution(params.get("media_resolution"))

    def _media_resolution(self, value: str | None) -> types.MediaResolution | None:
        if value is None:
            return None
        name = value.strip().upper()
        name = name if name.startswith("MEDIA_RESOLUTION_") else f"MEDIA_RESOLUTION_{name}"
        if name not in types.MediaResolution.__members__:
            raise ProviderBadRequest(self.id, f"media_resolution must be low, medium or high, not {value!r}")
        return types.MediaResolution[name]

    async def _content(self, turn: Turn) -> types.Content:
        signatures = [base64.b64decode(s) for s in turn.thought_signatures]
        # A signature goes back on a part of the reply it came with (wire/gemini.md section 2):
        # the first rides on the text, any others on empty parts as the API itself sends them.
        # No empty text part otherwise: the API refuses "an empty text parameter".
        parts = []
        if turn.content:
            first = signatures.pop(0) if signatures else None
            parts.append(types.Part(text=turn.content, thought_signature=first))
        parts += [types.Part(text="", thought_signature=s) for s in signatures]
        for kind, url in media.media_items(turn):
            # New media were checked before the turn began; history this vendor cannot take is left out.
            ref = await media.usable(self, kind, url, self.settings.upload_dir)
            if ref is not None:
                parts.append(media_part(kind, ref))
        return types.Content(role="model" if turn.role == "assistant" else "user", parts=parts)

    # --- Imagen -----------------------------------------------------------------------------

    async def _imagen(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        prompt = next((t.content for t in reversed(request.messages) if t.role == "user"), "")
        parameters: dict[str, object] = {
            wire: request.params[ours] for ours, wire in IMAGEN_PARAMETERS.items() if ours in request.params
        }
        parameters["includeRaiReason"] = True
        body: dict[str, object] = {"instances": [{"prompt": prompt}], "parameters": parameters}
        model = request.model.removeprefix("models/")
        with map_genai_errors(self.id):
            # generate_images() refuses the Gemini API in google-genai 3.x (wire/gemini.md section 7);
            # the SDK's own request path keeps its base URL, key header, timeout and retries.
            reply = await self.client.aio._api_client.async_request("post", f"models/{model}:predict", body)
        predictions = json.loads(reply.body or "{}").get("predictions") or []
        urls = [
            await media.save_generated(
                base64.b64decode(p["bytesBase64Encoded"]),
                p.get("mimeType", "image/png"),
                self.settings.upload_dir,
            )
            for p in predictions
            if p.get("bytesBase64Encoded")
        ]
        if not urls:
            reason = next((p["raiFilteredReason"] for p in predictions if "raiFilteredReason" in p), None)
            raise ProviderBlocked(self.id, f"image blocked ({reason or 'no image returned'})")
        yield MediaOutput("images", tuple(urls))
        yield Finish("stop")

    # --- models -----------------------------------------------------------------------------

    async def list_models(self) -> list[ModelInfo]:
        with map_genai_errors(self.id):
            found = [model async for model in await self.client.aio.models.list()]
        return [
            model_info(m) for m in found if {"generateContent", "predict"} & set(m.supported_actions or ())
        ]


def media_part(kind: str, ref: media.MediaRef) -> types.Part:
    if ref.data is None:
        # Gemini fetches public https URLs itself (https://ai.google.dev/gemini-api/docs/file-input-methods).
        mime = media.guess_mime(urlparse(ref.url).path) or DEFAULT_MIME[kind]
        return types.Part(file_data=types.FileData(file_uri=ref.url, mime_type=mime))
    return types.Part(inline_data=types.Blob(data=ref.data, mime_type=ref.mime or DEFAULT_MIME[kind]))


def model_info(model: types.Model) -> ModelInfo:
    model_id = (model.name or "").removeprefix("models/")
    return ModelInfo(
        id=model_id,
        name=model.display_name or model_id,
        description=model.description or "",
        context_length=model.input_token_limit,
    )


# --- response mapping (one path: stream=false collects these same events) -------------------


def chunk_events(
    chunk: types.GenerateContentResponse, provider: str, seen_urls: set[str]
) -> Iterator[StreamEvent]:
    """Events of one stream chunk; raises ProviderBlocked when the prompt or the reply is withheld."""
    feedback = chunk.prompt_feedback
    if feedback is not None and feedback.block_reason:
        detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
        raise ProviderBlocked(provider, f"prompt blocked ({_name(feedback.block_reason)}){detail}")
    candidate = chunk.candidates[0] if chunk.candidates else None
    if candidate is None:
        return
    if candidate.content is not None:
        yield from part_events(candidate.content.parts or ())
    yield from grounding_events(candidate.grounding_metadata, seen_urls)
    if candidate.finish_reason:
        reason = _name(candidate.finish_reason)
        if reason in BLOCKED_FINISH:
            raise ProviderBlocked(provider, f"reply blocked ({reason})")
        yield Finish(reason.lower())


def part_events(parts: Iterable[types.Part]) -> Iterator[StreamEvent]:
    for part in parts:
        if part.text:
            yield ReasoningDelta(part.text) if part.thought else TextDelta(part.text)
        if part.thought_signature:
            # The SDK hands the opaque signature over as bytes; we store and send back base64.
            yield ThoughtSignature(base64.b64encode(part.thought_signature).decode())


def inline_images(chunk: types.GenerateContentResponse) -> Iterator[tuple[bytes, str]]:
    """The images an image-output model sends inline (`inlineData`), as bytes and MIME type."""
    candidate = chunk.candidates[0] if chunk.candidates else None
    parts = candidate.content.parts if candidate is not None and candidate.content is not None else None
    for part in parts or ():
        blob = part.inline_data
        mime = blob.mime_type if blob is not None else None
        if blob is not None and blob.data and mime and mime.startswith("image/"):
            yield blob.data, mime


def grounding_events(meta: types.GroundingMetadata | None, seen_urls: set[str]) -> Iterator[StreamEvent]:
    """Google Search sources as search results; metadata may come on any chunk, so merge by URL."""
    if meta is None or not meta.grounding_chunks:
        return
    quotes: dict[int, list[str]] = {}
    for support in meta.grounding_supports or ():
        text = support.segment.text if support.segment else None
        for index in support.grounding_chunk_indices or ():
            if text:
                quotes.setdefault(index, []).append(text)
    items = []
    for index, source in enumerate(meta.grounding_chunks):
        web = source.web
        if web is None or not web.uri or web.uri in seen_urls:
            continue
        seen_urls.add(web.uri)
        items.append(
            {"title": web.title or web.uri, "url": web.uri, "content": " ".join(quotes.get(index, ()))}
        )
    if items:
        yield SearchResults(tuple(items))


def usage_data(meta: types.GenerateContentResponseUsageMetadata) -> dict[str, Any]:
    """Usage with the OpenAI-style totals beside Gemini's own counts (thoughts are billed as output)."""
    output = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
    return {
        "prompt_tokens": meta.prompt_token_count or 0,
        "completion_tokens": output,
        "total_tokens": meta.total_token_count or 0,
        **meta.model_dump(mode="json", exclude_none=True),
    }


def _name(value: Any) -> str:
    """An SDK enum member's wire name (the SDK may also hand over a plain string)."""
    return str(getattr(value, "value", value))
