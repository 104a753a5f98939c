"""Gemini through Google's google-genai SDK: streamed chat, thinking, grounding, media in, images out.

The wire differs from OpenAI's everywhere (contents/parts, thought parts and signatures, grounding
metadata, safety blocks), so this vendor has its own module on the shared `LLMProvider` base: the
request is built by `gemini_request`, the reply mapped by `gemini_response`, Imagen is `gemini_imagen`.
Wire reference: ../shared/wire/gemini.md and https://ai.google.dev/api/generate-content
"""

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import httpx2
from google import genai
from google.genai import types

from media import NO_MEDIA, MediaSupport
from providers import gemini_request
from providers.base import ModelInfo, PooledProvider, ProviderRequest, StreamEvent, Usage, tls_context
from providers.errors import map_genai_errors
from providers.gemini_imagen import IMAGEN_PARAMETERS, imagen_events
from providers.gemini_response import chunk_events, model_info, usage_data
from providers.sse import bound_event_stream_lines


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What a Gemini API model id can do; the one place model ids are looked at."""

    imagen: bool = False


def profile_for(model_id: str) -> ModelProfile:
    # Imagen models only take `:predict` (https://ai.google.dev/gemini-api/docs/imagen).
    return ModelProfile(imagen=model_id.removeprefix("models/").startswith("imagen"))


class GeminiProvider(PooledProvider[genai.Client]):
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
    # video and audio take every format our uploads accept, PDFs as documents
    # (https://ai.google.dev/gemini-api/docs/document-processing).
    media = MediaSupport(
        kinds=frozenset({"image", "video", "audio", "document"}),
        remote_kinds=frozenset({"image", "video", "audio", "document"}),
        mimes={"image": frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})},
    )

    def build_client(self, http: httpx2.AsyncClient) -> genai.Client:
        s = self.settings
        http.event_hooks["response"].append(bound_event_stream_lines)
        options = types.HttpOptions(
            base_url=s.base_url,
            api_version=self.api_version,
            # Milliseconds; the SDK's default of None would override the HTTP client's timeout.
            timeout=int(s.timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=s.max_retries + 1) if s.max_retries else None,
            # Ours, not one the SDK makes: with aiohttp installed it would open an aiohttp
            # session of its own, without our pool, proxy and TLS settings.
            httpx_async_client=http,
            client_args={"verify": tls_context()},
        )
        # vertexai=False: a GOOGLE_GENAI_USE_VERTEXAI in the environment must not re-route us.
        return genai.Client(vertexai=False, api_key=s.api_key, http_options=options)

    async def close_client(self, client: genai.Client) -> None:
        await client.aio.aclose()  # it leaves the HTTP client it was given open
        client.close()  # the SDK builds a sync pool too; nothing is ever sent on it

    def media_for(self, model: str) -> MediaSupport:
        # Imagen takes the prompt's text only.
        return NO_MEDIA if profile_for(model).imagen else self.media

    def check_params(self, params: Mapping[str, Any], model: str) -> None:
        gemini_request.media_resolution(params.get("media_resolution"), self.id)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        if profile_for(request.model).imagen:
            async for event in imagen_events(self.client, self.id, request):
                yield event
            return
        contents = gemini_request.contents(request.messages)
        config = gemini_request.generate_config(request, self.id, self.settings.max_generation_seconds)
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
                    # Every chunk repeats the cumulative usage; the last one is the total.
                    usage = chunk.usage_metadata or usage
        if usage is not None:
            yield Usage(usage_data(usage))

    async def list_models(self) -> list[ModelInfo]:
        with map_genai_errors(self.id):
            found = [model async for model in await self.client.aio.models.list()]
        return [
            model_info(m) for m in found if {"generateContent", "predict"} & set(m.supported_actions or ())
        ]
