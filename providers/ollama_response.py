"""Ollama replies: the lines of an `/api/chat` NDJSON stream as our events, and `/api/tags` entries.

Wire reference: ../shared/wire/ollama.md, sections 3 and 4.
"""

from collections.abc import Mapping
from typing import Any

from providers.base import Finish, ModelInfo, ReasoningDelta, StreamEvent, Usage
from providers.errors import ProviderUnavailable, vendor_message
from providers.think_tags import ThinkTagSplitter

# What the last line says of the reply besides `done_reason`: token counts, and durations in ns.
METRICS: tuple[str, ...] = (
    "prompt_eval_count",
    "eval_count",
    "total_duration",
    "load_duration",
    "prompt_eval_duration",
)
METRICS += ("eval_duration",)


def chunk_events(chunk: Any, provider: str, splitter: ThinkTagSplitter) -> list[StreamEvent]:
    """The events of one NDJSON line; an `error` line is the server failing mid-reply."""
    if not isinstance(chunk, dict):
        raise ProviderUnavailable(provider, "unreadable reply from the vendor: a line that is no JSON object")
    if "error" in chunk:
        # Sent in place of the rest of the reply; its text is the reason (wire/ollama.md, section 4).
        raise ProviderUnavailable(provider, vendor_message(chunk, "the server failed during the reply"))
    events: list[StreamEvent] = []
    delta = chunk.get("message")
    if isinstance(delta, dict):
        thinking, content = delta.get("thinking"), delta.get("content")
        if thinking and isinstance(thinking, str):
            events.append(ReasoningDelta(thinking))
        if content and isinstance(content, str):
            events.extend(splitter.feed(content))
    if chunk.get("done") is True:
        events.extend(splitter.flush())
        events.append(Usage(usage_data(chunk)))
        events.append(Finish(str(chunk.get("done_reason") or "stop")))
    return events


def usage_data(final: Mapping[str, Any]) -> dict[str, Any]:
    """Token usage as every reply states it, with Ollama's own counts and durations (ns) beside."""
    prompt, output = final.get("prompt_eval_count") or 0, final.get("eval_count") or 0
    usage = {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}
    usage.update({name: final[name] for name in METRICS if name in final})
    return usage


def model_info(entry: Mapping[str, Any]) -> ModelInfo:
    """A pulled model from `/api/tags`, its details kept (family, parameter size, quantization)."""
    details = entry.get("details")
    details = details if isinstance(details, dict) else {}
    facts = [details.get("family"), details.get("parameter_size"), details.get("quantization_level")]
    size = entry.get("size")
    if isinstance(size, int):
        facts.append(f"{size / 1e9:.1f} GB")
    kept = {name: entry[name] for name in ("size", "modified_at", "digest", "capabilities") if name in entry}
    description = ", ".join(str(fact) for fact in facts if fact)
    return ModelInfo(
        id=entry["name"], name=entry["name"], description=description, details={**details, **kept}
    )
