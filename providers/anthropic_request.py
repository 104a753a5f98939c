"""Anthropic Messages requests: what a model takes, the context as content-block messages, the body.

A reply's thinking blocks are sent back unchanged with it: the API checks each block's signature, and a
turn that loses them loses the model's reasoning across turns (and breaks thinking with tools). They are
stored as the reply's `thought_signatures`, one JSON object a block, in the reply's order:

    {"type": "thinking", "signature": "<opaque>", "chars": N}   its text: the next N characters of
                                                                 the reply's thought_process
    {"type": "redacted_thinking", "data": "<opaque>"}            the block as the API sent it

Wire reference: ../shared/wire/anthropic.md and https://platform.claude.com/docs/en/api/messages
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from media import MediaRef
from providers.base import ProviderRequest, Turn

# The server-side web search tool (https://platform.claude.com/docs/en/agents-and-tools/tool-use/web-search-tool).
WEB_SEARCH_TOOL = {"type": "web_search_20250305", "name": "web_search"}
# Sampling parameters sent under our own names.
SAMPLING = ("temperature", "top_p", "top_k")


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """The thinking forms a Claude model takes; the one place model ids are looked at."""

    thinking: bool = True
    budget: bool = True  # {"type": "enabled", "budget_tokens": N}
    adaptive: bool = True  # {"type": "adaptive"}


def profile_for(model_id: str) -> ModelProfile:
    # https://platform.claude.com/docs/en/build-with-claude/extended-thinking: thinking from Claude 3.7,
    # adaptive thinking from 4.6, and only adaptive from 4.7. An id without a version (an alias we
    # do not know) may take either: the API decides.
    version = claude_version(model_id)
    if version is None:
        return ModelProfile()
    if version < (3, 7):
        return ModelProfile(thinking=False, budget=False, adaptive=False)
    return ModelProfile(budget=version < (4, 7), adaptive=version >= (4, 6))


def claude_version(model_id: str) -> tuple[int, int] | None:
    """(4, 5) for claude-sonnet-4-5-20250929, (3, 7) for claude-3-7-sonnet; a date is no version."""
    numbers = [int(part) for part in model_id.split("-") if part.isdigit() and len(part) <= 2]
    return (numbers[0], numbers[1] if len(numbers) > 1 else 0) if numbers else None


def refusal(params: Mapping[str, Any], model: str, max_tokens: int) -> str | None:
    """Why the Messages API would refuse these parameters for `model`, or None."""
    if params.get("temperature", 0) > 1:
        return f"temperature must be between 0 and 1, not {params['temperature']}"
    if params.get("top_k", 1) < 1:
        return f"top_k must be at least 1, not {params['top_k']}"
    if "thinking" not in params:
        return None
    thinking, profile = thinking_config(params["thinking"]), profile_for(model)
    if thinking["type"] == "adaptive" and not profile.adaptive:
        return f'{model} does not take adaptive thinking: send {{"type": "enabled", "budget_tokens": N}}'
    if thinking["type"] == "enabled" and not profile.budget:
        return f'{model} takes adaptive thinking only: send {{"type": "adaptive"}}'
    budget, limit = thinking.get("budget_tokens", 0), params.get("max_tokens", max_tokens)
    if thinking["type"] == "enabled" and budget >= limit:
        return f"thinking.budget_tokens ({budget}) must be less than max_tokens ({limit})"
    return None


def request_body(request: ProviderRequest, max_tokens: int) -> dict[str, Any]:
    """The Messages request for `request`; `max_tokens` applies unless the client sent its own."""
    p = request.params
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": p.get("max_tokens", max_tokens),  # required by the API
        "messages": messages(request.messages),
        "stream": True,
    }
    system = "\n\n".join(s for s in (request.system_prompt, *system_turns(request.messages)) if s)
    if system:
        body["system"] = system
    body.update((name, p[name]) for name in SAMPLING if name in p)
    stop = p.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if "thinking" in p:
        body["thinking"] = thinking_config(p["thinking"])
    if p.get("web_search"):
        body["tools"] = [WEB_SEARCH_TOOL]
    return body


def thinking_config(value: Any) -> dict[str, Any]:
    """Our `thinking` as Anthropic's object: a switch (or "auto") on means adaptive thinking."""
    if isinstance(value, Mapping):
        return dict(value)
    return {"type": "adaptive"} if value else {"type": "disabled"}


def system_turns(turns: Iterable[Turn]) -> list[str]:
    # The Messages API has no system role: such turns join the top-level system prompt.
    return [turn.content for turn in turns if turn.role == "system"]


def messages(turns: Iterable[Turn]) -> list[dict[str, Any]]:
    """User and assistant turns as messages; consecutive turns of one role become one message."""
    merged: list[dict[str, Any]] = []
    for turn in turns:
        blocks = content_blocks(turn) if turn.role != "system" else []
        if not blocks:
            continue
        if merged and merged[-1]["role"] == turn.role:
            merged[-1]["content"].extend(blocks)
        else:
            merged.append({"role": turn.role, "content": blocks})
    return merged


def content_blocks(turn: Turn) -> list[dict[str, Any]]:
    # Thinking first, as the reply had it; documents and images before the text they go with.
    blocks = thinking_blocks(turn) if turn.role == "assistant" else []
    blocks += [media_block(ref) for ref in turn.media]
    if turn.content:  # the API refuses an empty text block
        blocks.append({"type": "text", "text": turn.content})
    return blocks


def media_block(ref: MediaRef) -> dict[str, Any]:
    """An image or a PDF (a `document` block), as bytes or an https:// URL Anthropic fetches itself."""
    block_type, default_mime = (
        ("document", "application/pdf") if ref.kind == "document" else ("image", "image/png")
    )
    if ref.data is None:
        return {"type": block_type, "source": {"type": "url", "url": ref.url}}
    source = {"type": "base64", "media_type": ref.mime or default_mime, "data": ref.base64_data()}
    return {"type": block_type, "source": source}


def thinking_blocks(turn: Turn) -> list[dict[str, Any]]:
    """The reply's thinking blocks as the API sent them, from its reasoning text and stored entries.

    When the entries' lengths do not add up to the reasoning (a reply cut back after a block had
    ended, or another vendor's signatures), none is sent: a block whose text changed fails its
    signature, while leaving out an earlier turn's thinking is allowed.
    """
    entries = [entry for value in turn.thought_signatures if (entry := stored_block(value)) is not None]
    if sum(entry.get("chars", 0) for entry in entries) != len(turn.reasoning):
        return []
    blocks, start = [], 0
    for entry in entries:
        if entry["type"] == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": entry["data"]})
            continue
        text, start = turn.reasoning[start : start + entry["chars"]], start + entry["chars"]
        blocks.append({"type": "thinking", "thinking": text, "signature": entry["signature"]})
    return blocks


def block_entry(block: Mapping[str, Any]) -> str:
    """The stored form of a thinking block (see the module's docstring)."""
    return orjson.dumps(dict(block)).decode()


def stored_block(value: str) -> dict[str, Any] | None:
    """A stored thinking block, or None for anything else (another vendor's signature)."""
    try:
        entry = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(entry, dict):
        return None
    if entry.get("type") == "thinking" and isinstance(entry.get("signature"), str):
        chars = entry.get("chars")
        return entry if isinstance(chars, int) and chars >= 0 else None
    if entry.get("type") == "redacted_thinking" and isinstance(entry.get("data"), str):
        return entry
    return None
