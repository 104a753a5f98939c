"""Imagen on the Gemini API: text-to-image through `:predict` (wire/gemini.md section 7).

https://ai.google.dev/gemini-api/docs/imagen
"""

import base64
import json
from collections.abc import AsyncIterator

from google import genai

from providers.base import Finish, GeneratedMedia, ProviderRequest, StreamEvent
from providers.errors import ProviderBlocked, map_genai_errors

# Our Imagen parameters -> `:predict` parameters.
IMAGEN_PARAMETERS = {
    "imagen_number_of_images": "sampleCount",
    "imagen_image_size": "sampleImageSize",
    "imagen_aspect_ratio": "aspectRatio",
    "imagen_person_generation": "personGeneration",
}


async def imagen_events(
    client: genai.Client, provider: str, request: ProviderRequest
) -> AsyncIterator[StreamEvent]:
    """The images Imagen made for the newest user message, as one batch; ProviderBlocked if none."""
    prompt = next((t.content for t in reversed(request.messages) if t.role == "user"), "")
    parameters: dict[str, object] = {
        wire: request.params[ours] for ours, wire in IMAGEN_PARAMETERS.items() if ours in request.params
    }
    parameters["includeRaiReason"] = True
    body: dict[str, object] = {"instances": [{"prompt": prompt}], "parameters": parameters}
    model = request.model.removeprefix("models/")
    with map_genai_errors(provider):
        # generate_images() refuses the Gemini API in google-genai 3.x (wire/gemini.md section 7);
        # the SDK's own request path keeps its base URL, key header, timeout and retries.
        reply = await client.aio._api_client.async_request("post", f"models/{model}:predict", body)
    predictions = json.loads(reply.body or "{}").get("predictions") or []
    images = tuple(
        (base64.b64decode(p["bytesBase64Encoded"]), p.get("mimeType", "image/png"))
        for p in predictions
        if p.get("bytesBase64Encoded")
    )
    if not images:
        reason = next((p["raiFilteredReason"] for p in predictions if "raiFilteredReason" in p), None)
        raise ProviderBlocked(provider, f"image blocked ({reason or 'no image returned'})")
    yield GeneratedMedia("images", images)
    yield Finish("stop")
