"""Gemini replies: stream chunks mapped to our events (stream=false collects these same events).

Wire reference: ../shared/wire/gemini.md and https://ai.google.dev/api/generate-content
"""

import base64
from collections.abc import Iterable, Iterator
from typing import Any

from google.genai import types

from providers.base import (
    Finish,
    GeneratedMedia,
    ModelInfo,
    ReasoningDelta,
    SearchResults,
    StreamEvent,
    TextDelta,
    ThoughtSignature,
)
from providers.errors import ProviderBlocked

# Finish reasons meaning the vendor withheld the reply; anything else ends it normally.
# https://ai.google.dev/api/generate-content#FinishReason
BLOCKED_FINISH = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"}
    | {"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"}
)


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
    parts = candidate.content.parts if candidate.content is not None else None
    if parts:
        yield from part_events(parts)
    yield from grounding_events(candidate.grounding_metadata, seen_urls)
    if candidate.finish_reason:
        reason = _name(candidate.finish_reason)
        if reason in BLOCKED_FINISH:
            raise ProviderBlocked(provider, f"reply blocked ({reason})")
        yield Finish(reason.lower())
    images = tuple(inline_images(parts)) if parts else ()
    if images:
        yield GeneratedMedia("images", images)


def part_events(parts: Iterable[types.Part]) -> Iterator[StreamEvent]:
    for part in parts:
        if part.text:
            yield ReasoningDelta(part.text) if part.thought else TextDelta(part.text)
        if part.thought_signature:
            # The SDK hands the opaque signature over as bytes; we store and send back base64.
            yield ThoughtSignature(base64.b64encode(part.thought_signature).decode())


def inline_images(parts: Iterable[types.Part]) -> Iterator[tuple[bytes, str]]:
    """The images an image-output model sends inline (`inlineData`), as bytes and MIME type."""
    for part in parts:
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


def model_info(model: types.Model) -> ModelInfo:
    model_id = (model.name or "").removeprefix("models/")
    return ModelInfo(
        id=model_id,
        name=model.display_name or model_id,
        description=model.description or "",
        context_length=model.input_token_limit,
    )
