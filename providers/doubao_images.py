"""Seedream image generation on Ark: one call, with progress events while it runs.

https://www.volcengine.com/docs/82379/1541523 (request body), ../shared/wire/doubao-ark.md
"""

import asyncio
import base64
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from providers.base import GeneratedMedia, Progress, ProviderRequest, StreamEvent
from providers.doubao_generation import closing, download, failure, long_call, prompt_turn, references
from providers.errors import ProviderBadRequest, map_openai_errors

if TYPE_CHECKING:
    from providers.doubao import DoubaoProvider

IMAGE_PARAMS = frozenset(
    {"sequential_image_generation", "max_images", "watermark", "prompt_optimize_mode", "size", "seed"}
)
# Our flat request fields that Ark nests in an options object: field -> (object, key).
NESTED = {
    "max_images": ("sequential_image_generation_options", "max_images"),
    "prompt_optimize_mode": ("optimize_prompt_options", "mode"),
}


async def seedream_events(provider: "DoubaoProvider", request: ProviderRequest) -> AsyncIterator[StreamEvent]:
    turn = prompt_turn(request)
    body = {"model": request.model, "prompt": turn.content, **_nested(request.params)}
    images = references(turn)
    if images:
        # One reference image is a string; several (multi-image fusion) are a list.
        body["image"] = images[0] if len(images) == 1 else images
    with map_openai_errors(provider.id):
        call = asyncio.ensure_future(
            provider.client.post(
                "/images/generations", body=body, cast_to=dict[str, Any], options=long_call(provider.settings)
            )
        )
        async for tick in _while_waiting(call, "generating", provider.poll_interval):
            yield tick
        result = call.result()
    # In a set, an image the vendor's moderation blocked is an `error` item in its place.
    items = [item for item in result.get("data") or () if not item.get("error")]
    if not items:
        raise ProviderBadRequest(provider.id, f"no image was generated: {failure(result)}")
    yield GeneratedMedia("images", tuple([await _image_file(provider, item) for item in items]))
    for event in closing(result):
        yield event


async def _image_file(provider: "DoubaoProvider", item: dict[str, Any]) -> tuple[bytes, str]:
    if item.get("b64_json"):
        return base64.b64decode(item["b64_json"]), f"image/{item.get('output_format') or 'jpeg'}"
    return await download(provider, item["url"], "image/jpeg")


async def _while_waiting(
    call: "asyncio.Future[Any]", status: str, interval: float
) -> AsyncIterator[Progress]:
    """Progress events every `interval` seconds until `call` ends, so the client sees we are alive."""
    try:
        while not (await asyncio.wait({call}, timeout=interval))[0]:
            yield Progress(status)
    finally:
        call.cancel()  # a no-op once done; a stopped reply stops the vendor call


def _nested(params: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in params.items():
        outer, inner = NESTED.get(key, (key, ""))
        if inner:
            body.setdefault(outer, {})[inner] = value
        else:
            body[key] = value
    return body
