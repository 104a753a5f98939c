"""Doubao on Volcengine Ark: OpenAI-compatible chat, Seedream images and Seedance videos.

One key and one base URL serve all three; what a model does is a fact of the model, declared by
`profile_for`. Image and video generation live in `doubao_images` and `doubao_video`.
Ark API reference: https://www.volcengine.com/docs/82379 (../shared/wire/doubao-ark.md).
"""

import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Literal

from media import MediaRef, MediaSupport
from providers.base import COMMON_PARAMS, ProviderRequest, StreamEvent
from providers.doubao_images import IMAGE_PARAMS, seedream_events
from providers.doubao_video import VIDEO_PARAMS, seedance_events
from providers.openai_compat import FROM_USER, OpenAICompatProvider

CHAT_PARAMS = COMMON_PARAMS | {"thinking"}
# Chat takes image_url parts (detail, image_pixel_limit) and video_url parts (fps), each a URL
# or a data URL (https://www.volcengine.com/docs/82379/1362931, .../1895586).
CHAT_MEDIA = MediaSupport(
    kinds=frozenset({"image", "video"}), remote_kinds=frozenset({"image", "video"}), roles=FROM_USER
)
# Seedream and Seedance take the prompt's images as references, as URLs or data URLs.
GENERATION_MEDIA = MediaSupport(
    kinds=frozenset({"image"}), remote_kinds=frozenset({"image"}), roles=FROM_USER, prompt_only=True
)


@dataclasses.dataclass(frozen=True, slots=True)
class DoubaoProfile:
    kind: Literal["chat", "image", "video"]
    params: frozenset[str]
    media: MediaSupport


def profile_for(model: str) -> DoubaoProfile:
    """What an Ark model does, from its id. Endpoint ids (`ep-...`) say nothing, so they chat."""
    name = model.lower()
    if "seedream" in name or "seededit" in name:
        return DoubaoProfile("image", IMAGE_PARAMS, GENERATION_MEDIA)
    if "seedance" in name:
        return DoubaoProfile("video", VIDEO_PARAMS, GENERATION_MEDIA)
    return DoubaoProfile("chat", CHAT_PARAMS, CHAT_MEDIA)


class DoubaoProvider(OpenAICompatProvider):
    id = "doubao"
    name = "Doubao"
    description = "ByteDance Doubao on Volcengine Ark: chat, Seedream images, Seedance videos"
    key_setting = "doubao_api_key"
    base_url_setting = "doubao_base_url"
    reasoning_fields = ("reasoning_content",)
    # Ark streams reasoning in its own field, never as <think> tags in the content.
    think_tags = False
    # What new messages are checked against; each model's requests carry its profile's media.
    media = CHAT_MEDIA
    media_params = frozenset({"image_detail", "image_pixel_limit", "fps"})
    fallback_models: ClassVar[tuple[str, ...]] = (
        "doubao-seed-1-6-250615",
        "doubao-seed-1-6-flash-250828",
        "doubao-seed-1-6-thinking-250715",
        "doubao-seedream-4-0-250828",
        "doubao-seedance-1-0-pro-250528",
    )
    # Seconds between polls of a video task, and between "still working" events while we wait.
    poll_interval: ClassVar[float] = 3.0

    def accepts(self, param: str, model: str) -> bool:
        # Knobs of another kind of model (a video duration sent to a chat model) are not sent, and
        # X-Ignored-Parameters names them.
        return param in profile_for(model).params

    def media_for(self, model: str) -> MediaSupport:
        return profile_for(model).media

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        profile = profile_for(request.model)
        if profile.kind == "image":
            events = seedream_events(self, request)
        elif profile.kind == "video":
            events = seedance_events(self, request)
        else:
            events = super().stream(request)
        async for event in events:
            yield event

    def image_part(self, ref: MediaRef, options: Mapping[str, Any]) -> dict[str, Any]:
        part = super().image_part(ref, options)
        if "image_pixel_limit" in options:  # {"max_pixels": ..., "min_pixels": ...}
            part["image_url"]["image_pixel_limit"] = options["image_pixel_limit"]
        return part

    def wire_params(self, params: dict[str, Any]) -> dict[str, Any]:
        # https://www.volcengine.com/docs/82379/1449737: an object, and "auto" lets the model decide.
        if "thinking" in params and not isinstance(params["thinking"], dict):  # an object goes as it is
            value = params["thinking"]
            switch = "enabled" if value else "disabled"
            params["thinking"] = {"type": value if isinstance(value, str) else switch}
        return super().wire_params(params)
