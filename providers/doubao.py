"""Doubao on Volcengine Ark: OpenAI-compatible chat, Seedream images and Seedance videos.

One key and one base URL serve all three; what a model does is a fact of the model, declared by
`profile_for`. Ark API reference: https://www.volcengine.com/docs/82379 (../shared/wire/doubao-ark.md).
"""

import asyncio
import base64
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, ClassVar, Literal

import httpx2
import openai
from openai import RequestOptions

import media
from providers.base import (
    COMMON_PARAMS,
    Finish,
    MediaOutput,
    Progress,
    ProviderRequest,
    StreamEvent,
    Turn,
    Usage,
)
from providers.errors import (
    ProviderBadRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    map_httpx2_errors,
    map_openai_errors,
)
from providers.openai_compat import OpenAICompatProvider

CHAT_PARAMS = COMMON_PARAMS | {"thinking"}
# https://www.volcengine.com/docs/82379/1541523 (Seedream image generation request body)
IMAGE_PARAMS = frozenset(
    {"sequential_image_generation", "max_images", "watermark", "prompt_optimize_mode", "size", "seed"}
)
# https://www.volcengine.com/docs/82379/1520757 (Seedance: create a video generation task)
VIDEO_PARAMS = frozenset(
    {"resolution", "ratio", "duration", "generate_audio", "draft", "camera_fixed", "seed", "watermark"}
)
# Our flat request fields that Ark nests in an options object: field -> (object, key).
NESTED = {
    "max_images": ("sequential_image_generation_options", "max_images"),
    "prompt_optimize_mode": ("optimize_prompt_options", "mode"),
}
TASKS = "/contents/generations/tasks"
# A task in any other state is still queued or running (https://www.volcengine.com/docs/82379/1521309).
TASK_ENDED = frozenset({"succeeded", "failed", "cancelled", "expired"})


@dataclasses.dataclass(frozen=True, slots=True)
class DoubaoProfile:
    kind: Literal["chat", "image", "video"]
    params: frozenset[str]


def profile_for(model: str) -> DoubaoProfile:
    """What an Ark model does, from its id. Endpoint ids (`ep-...`) say nothing, so they chat."""
    name = model.lower()
    if "seedream" in name or "seededit" in name:
        return DoubaoProfile("image", IMAGE_PARAMS)
    if "seedance" in name:
        return DoubaoProfile("video", VIDEO_PARAMS)
    return DoubaoProfile("chat", CHAT_PARAMS)


class DoubaoProvider(OpenAICompatProvider):
    id = "doubao"
    name = "Doubao"
    description = "ByteDance Doubao on Volcengine Ark: chat, Seedream images, Seedance videos"
    key_setting = "doubao_api_key"
    base_url_setting = "doubao_base_url"
    reasoning_fields = ("reasoning_content",)
    # Ark streams reasoning in its own field, never as <think> tags in the content.
    think_tags = False
    # Chat takes image_url parts (detail, image_pixel_limit) and video_url parts (fps), each a URL
    # or a data URL (https://www.volcengine.com/docs/82379/1362931, .../1895586).
    media_kinds = frozenset({"image", "video"})
    remote_media_kinds = frozenset({"image", "video"})
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

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        profile = profile_for(request.model)
        if profile.kind == "image":
            events = self._images(request)
        elif profile.kind == "video":
            events = self._video(request)
        else:
            events = super().stream(request)
        async for event in events:
            yield event

    def image_part(self, ref: media.MediaRef, options: Mapping[str, Any]) -> dict[str, Any]:
        part = super().image_part(ref, options)
        if "image_pixel_limit" in options:  # {"max_pixels": ..., "min_pixels": ...}
            part["image_url"]["image_pixel_limit"] = options["image_pixel_limit"]
        return part

    def wire_params(self, params: dict[str, Any]) -> dict[str, Any]:
        # https://www.volcengine.com/docs/82379/1449737: an object, and "auto" lets the model decide.
        if "thinking" in params:
            value = params["thinking"]
            switch = "enabled" if value else "disabled"
            params["thinking"] = {"type": value if isinstance(value, str) else switch}
        return super().wire_params(params)

    # --- Seedream --------------------------------------------------------------------------

    async def _images(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        turn = _prompt_turn(request)
        body = {"model": request.model, "prompt": turn.content, **_nested(request.params)}
        references = await self._references(turn.images)
        if references:
            # One reference image is a string; several (multi-image fusion) are a list.
            body["image"] = references[0] if len(references) == 1 else references
        with map_openai_errors(self.id):
            call = asyncio.ensure_future(
                self.client.post(
                    "/images/generations", body=body, cast_to=dict[str, Any], options=self._long()
                )
            )
            async for tick in self._while_waiting(call, "generating"):
                yield tick
            result = call.result()
        # In a set, an image the vendor's moderation blocked is an `error` item in its place.
        items = [item for item in result.get("data") or () if not item.get("error")]
        if not items:
            raise ProviderBadRequest(self.id, f"no image was generated: {_failure(result)}")
        yield MediaOutput("images", tuple([await self._save_image(item) for item in items]))
        for event in _closing(result):
            yield event

    async def _save_image(self, item: dict[str, Any]) -> str:
        if item.get("b64_json"):
            mime = f"image/{item.get('output_format') or 'jpeg'}"
            data = base64.b64decode(item["b64_json"])
            return await media.save_generated(data, mime, self.settings.upload_dir)
        return await self._download(item["url"], "image/jpeg")

    # --- Seedance --------------------------------------------------------------------------

    async def _video(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        turn = _prompt_turn(request)
        content: list[dict[str, Any]] = [{"type": "text", "text": turn.content}]
        references = await self._references(turn.images)
        for url, role in zip(references, _frame_roles(len(references)), strict=True):
            part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
            content.append({**part, "role": role} if role else part)
        body = {"model": request.model, "content": content, **request.params}
        with map_openai_errors(self.id):
            created = await self.client.post(TASKS, body=body, cast_to=dict[str, Any], options=self._long())
            path = f"{TASKS}/{created['id']}"
            try:
                while (task := await self.client.get(path, cast_to=dict[str, Any]))[
                    "status"
                ] not in TASK_ENDED:
                    yield Progress(task["status"])
                    await asyncio.sleep(self.poll_interval)
            except asyncio.CancelledError:
                await asyncio.shield(self._cancel_task(path))
                raise
        if task["status"] != "succeeded":
            raise self._task_error(task)
        yield MediaOutput("videos", (await self._download(task["content"]["video_url"], "video/mp4"),))
        for event in _closing(task):
            yield event

    async def _cancel_task(self, path: str) -> None:
        """Best effort, when the reply is stopped: `DELETE .../tasks/{id}` cancels a queued task."""
        with contextlib.suppress(openai.APIError, TimeoutError):
            async with asyncio.timeout(self.settings.provider_timeout):
                await self.client.delete(path, cast_to=httpx2.Response, options={"max_retries": 0})

    def _task_error(self, task: dict[str, Any]) -> ProviderError:
        status = task["status"]
        limit = task.get("execution_expires_after")
        default = f"not finished within {limit} s" if status == "expired" and limit else "no reason given"
        error_class = ProviderTimeout if status == "expired" else ProviderUnavailable
        return error_class(self.id, f"video task {status}: {_failure(task, default)}")

    # --- shared by both --------------------------------------------------------------------

    def _long(self) -> RequestOptions:
        # Generation takes tens of seconds to minutes: the reply's own watchdog bounds it, not
        # PROVIDER_TIMEOUT. A retry would bill a second generation, so there is none.
        timeout = httpx2.Timeout(self.settings.max_generation_seconds, connect=self.settings.provider_timeout)
        return {"timeout": timeout, "max_retries": 0}

    async def _while_waiting(self, call: "asyncio.Future[Any]", status: str) -> AsyncIterator[Progress]:
        """Progress events every poll interval until `call` ends, so the client sees we are alive."""
        try:
            while not (await asyncio.wait({call}, timeout=self.poll_interval))[0]:
                yield Progress(status)
        finally:
            call.cancel()  # a no-op once done; a stopped reply stops the vendor call

    async def _references(self, urls: Iterable[str]) -> list[str]:
        """The turn's images as Ark takes them: our uploads inline, remote URLs as they are."""
        try:
            return [(await media.resolve(url, self.settings.upload_dir)).data_url() for url in urls]
        except media.MediaError as exc:
            raise ProviderBadRequest(self.id, str(exc)) from exc

    async def _download(self, url: str, default_mime: str) -> str:
        """Fetch a result from the vendor's storage (its own signed URL, not user input) into uploads/."""
        _ = self.client  # builds the pooled HTTP client on first use
        assert self._http is not None
        with map_httpx2_errors(self.id):
            response = await self._http.get(url, timeout=self.settings.provider_timeout)
        if response.status_code != 200:
            raise ProviderUnavailable(
                self.id, f"downloading the result failed with HTTP {response.status_code}"
            )
        mime = response.headers.get("content-type", "").partition(";")[0].strip()
        if mime not in media.MIME_EXTENSIONS:
            mime = media.guess_mime(httpx2.URL(url).path) or default_mime
        return await media.save_generated(response.content, mime, self.settings.upload_dir)


def _closing(result: dict[str, Any]) -> tuple[StreamEvent, ...]:
    usage = result.get("usage")
    return (Usage(usage), Finish("stop")) if usage else (Finish("stop"),)


def _nested(params: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in params.items():
        outer, inner = NESTED.get(key, (key, ""))
        if inner:
            body.setdefault(outer, {})[inner] = value
        else:
            body[key] = value
    return body


def _prompt_turn(request: ProviderRequest) -> Turn:
    """The newest user message: its text is the prompt, its images the references."""
    return next((t for t in reversed(request.messages) if t.role == "user"), Turn("user", ""))


def _frame_roles(count: int) -> tuple[str | None, ...]:
    # One image is the first frame (the default role); two are the first and last frames;
    # more are reference images (https://www.volcengine.com/docs/82379/1520757, content.role).
    return {1: (None,), 2: ("first_frame", "last_frame")}.get(count, ("reference_image",) * count)


def _failure(body: dict[str, Any], default: str = "no reason given") -> str:
    error = body.get("error") or next((i["error"] for i in body.get("data") or () if i.get("error")), None)
    if not isinstance(error, dict):
        return default
    return str(error.get("message") or error.get("code") or default)
