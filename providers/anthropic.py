"""Anthropic (Claude) through the official `anthropic` SDK: streamed Messages, extended thinking, web search.

The Messages wire is not OpenAI's (content blocks, named stream events, thinking blocks that must go
back signed), so this vendor has its own module on the shared `LLMProvider` base: the request is built
by `anthropic_request`, the stream mapped by `anthropic_response`. The SDK sends (auth, retries, error
statuses) over the pooled httpx2 client; the stream is read as plain JSON, as the OpenAI-compatible
base reads its own, because building the SDK's typed events costs most of a relayed chunk's CPU.
Wire reference: ../shared/wire/anthropic.md and https://platform.claude.com/docs/en/api/messages
"""

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import anthropic
import httpx2
import orjson

from media import MediaSupport
from providers.anthropic_request import profile_for, refusal, request_body
from providers.anthropic_response import MessageStream, model_info
from providers.base import ModelInfo, PooledProvider, ProviderRequest, StreamEvent
from providers.errors import ProviderBadRequest, ProviderUnavailable, map_anthropic_errors
from providers.sse import body_bytes, drain, sse_data
from providers.stream_start import post_stream


class AnthropicProvider(PooledProvider[anthropic.AsyncAnthropic]):
    id = "anthropic"
    name = "Anthropic"
    description = "Anthropic Claude (anthropic SDK): extended thinking, web search, images"
    key_setting = "anthropic_api_key"
    base_url_setting = "anthropic_base_url"
    extra_settings = ("anthropic_max_tokens",)
    # Pinned: 2026-10-21, the SDK's default, refuses temperature, top_p and top_k with 400.
    # https://platform.claude.com/docs/en/api/versioning
    api_version: ClassVar[str] = "2023-06-01"
    fallback_models: ClassVar[tuple[str, ...]] = (
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        "claude-haiku-4-5",
        "claude-sonnet-4-6",
        "claude-opus-4-6",
    )
    common_params = frozenset({"temperature", "top_p", "max_tokens", "stop"})
    extra_params = frozenset({"top_k", "thinking", "web_search"})
    # Images and PDFs in user messages, as bytes or https:// URLs
    # (https://platform.claude.com/docs/en/build-with-claude/vision, .../pdf-support).
    media = MediaSupport(
        kinds=frozenset({"image", "document"}),
        remote_kinds=frozenset({"image", "document"}),
        mimes={"image": frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})},
        roles=frozenset({"user"}),
    )

    @property
    def max_tokens(self) -> int:
        """ANTHROPIC_MAX_TOKENS: sent when the client sends no max_tokens (the API requires one)."""
        value: int = self.settings.extras["anthropic_max_tokens"]
        return value

    def build_client(self, http: httpx2.AsyncClient) -> anthropic.AsyncAnthropic:
        s = self.settings
        return anthropic.AsyncAnthropic(
            api_key=s.api_key,
            base_url=s.base_url,
            timeout=s.timeout,
            max_retries=s.max_retries,
            default_headers={"anthropic-version": self.api_version},
            http_client=http,
        )

    def accepts(self, param: str, model: str) -> bool:
        if param == "thinking":
            return profile_for(model).thinking
        return super().accepts(param, model)

    def check_params(self, params: Mapping[str, Any], model: str) -> None:
        reason = refusal(params, model, self.max_tokens)
        if reason is not None:
            raise ProviderBadRequest(self.id, reason)

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        message = MessageStream(self.id)
        with map_anthropic_errors(self.id):
            body = request_body(request, self.max_tokens)
            http = await post_stream(self.client, "/v1/messages", body, self.id, self.settings.timeout)
            # Leaving this block (end, error, or a stop cancelling us) closes the upstream connection.
            try:
                events = sse_data(body_bytes(http))
                async for data in events:
                    for event in message.events(orjson.loads(data)):
                        yield event
                    if message.stopped:
                        break
                await drain(events)
            finally:
                await http.aclose()
        if not message.stopped:
            raise ProviderUnavailable(self.id, "the reply was cut off before its end (no message_stop)")

    async def list_models(self) -> list[ModelInfo]:
        with map_anthropic_errors(self.id):
            # The SDK's pages follow `has_more` / `after_id`; 1000 is the most a page may hold.
            found = [model async for model in self.client.models.list(limit=1000)]
        return [model_info(model) for model in found if isinstance(getattr(model, "id", None), str)]
