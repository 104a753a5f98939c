"""Anthropic replies: the events of a Messages stream mapped to ours (stream=false collects the same events).

Wire reference: ../shared/wire/anthropic.md and https://platform.claude.com/docs/en/build-with-claude/streaming
"""

from typing import Any

from providers.anthropic_request import block_entry
from providers.base import (
    Finish,
    ModelInfo,
    ReasoningDelta,
    SearchResults,
    StreamEvent,
    TextDelta,
    ThoughtSignature,
    Usage,
)
from providers.errors import ProviderError, error_for_status

# https://platform.claude.com/docs/en/api/messages#response-stop-reason; the others (refusal, pause_turn,
# tool_use, ...) are kept as they are.
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
# The HTTP status each error type stands for before a stream (https://platform.claude.com/docs/en/api/errors).
ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
INPUT_COUNTS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class MessageStream:
    """The events of one streamed message, with what its blocks build up from event to event.

    One is made per request: two streams never share it.
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.thinking: dict[int, dict[str, Any]] = {}  # open thinking blocks by index
        self.usage: dict[str, Any] = {}
        self.sources: dict[str, str] = {}  # web search results not cited (yet): url -> title
        self.cited: set[str] = set()
        self.stopped = False  # message_stop arrived

    def events(self, event: Any) -> list[StreamEvent]:
        """Our events for one stream event; raises a ProviderError for an `error` event."""
        if not isinstance(event, dict):
            return []
        match event.get("type"):
            case "content_block_delta":
                return self._delta(event.get("index"), event.get("delta") or {})
            case "content_block_start":
                return self._start(event.get("index"), event.get("content_block") or {})
            case "content_block_stop":
                return self._stop(event.get("index"))
            case "message_start":
                self._count((event.get("message") or {}).get("usage"))
            case "message_delta":
                return self._message_delta(event)
            case "message_stop":
                self.stopped = True
                return self._uncited()
            case "error":
                raise stream_error(self.provider, event.get("error"))
        return []  # ping, and event types added later

    def _start(self, index: Any, block: dict[str, Any]) -> list[StreamEvent]:
        match block.get("type"):
            case "thinking":
                self._thinking_block(index)["signature"] = block.get("signature") or ""
                return self._thought(index, block.get("thinking"))
            case "redacted_thinking":
                # Encrypted reasoning: nothing to show, but it must go back as it came.
                entry = {"type": "redacted_thinking", "data": block.get("data")}
                return [ThoughtSignature(block_entry(entry))]
            case "text":
                text = block.get("text")
                return [TextDelta(text)] if isinstance(text, str) and text else []
            case "web_search_tool_result":
                self._search_results(block.get("content"))
        return []  # server_tool_use: the query, whose input arrives as JSON fragments

    def _delta(self, index: Any, delta: dict[str, Any]) -> list[StreamEvent]:
        match delta.get("type"):
            case "text_delta":
                text = delta.get("text")
                return [TextDelta(text)] if isinstance(text, str) and text else []
            case "thinking_delta":
                return self._thought(index, delta.get("thinking"))
            case "signature_delta":
                self._thinking_block(index)["signature"] += delta.get("signature") or ""
            case "citations_delta":
                return self._citation(delta.get("citation"))
        return []

    def _thought(self, index: Any, text: Any) -> list[StreamEvent]:
        if not isinstance(text, str) or not text:
            return []
        self._thinking_block(index)["chars"] += len(text)
        return [ReasoningDelta(text)]

    def _thinking_block(self, index: Any) -> dict[str, Any]:
        """The thinking block open at `index`, in its stored form (anthropic_request's docstring)."""
        return self.thinking.setdefault(index, {"type": "thinking", "signature": "", "chars": 0})

    def _stop(self, index: Any) -> list[StreamEvent]:
        block = self.thinking.pop(index, None)
        # A thinking block goes back with its signature or not at all.
        if block is None or not block["signature"]:
            return []
        return [ThoughtSignature(block_entry(block))]

    def _search_results(self, content: Any) -> None:
        for result in content if isinstance(content, list) else ():  # else an error object
            url = result.get("url") if isinstance(result, dict) else None
            if isinstance(url, str) and url not in self.cited:
                self.sources.setdefault(url, result.get("title") or url)

    def _citation(self, citation: Any) -> list[StreamEvent]:
        """A source the text cites, with the passage it quotes, the first time it is cited."""
        url = citation.get("url") if isinstance(citation, dict) else None
        if not isinstance(url, str) or url in self.cited:
            return []
        self.cited.add(url)
        self.sources.pop(url, None)
        quote = citation.get("cited_text") or ""
        return [SearchResults(({"title": citation.get("title") or url, "url": url, "content": quote},))]

    def _uncited(self) -> list[StreamEvent]:
        """The search results the text did not cite, once the message has ended."""
        items = tuple({"title": title, "url": url, "content": ""} for url, title in self.sources.items())
        self.sources.clear()
        return [SearchResults(items)] if items else []

    def _message_delta(self, event: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        reason = (event.get("delta") or {}).get("stop_reason")
        if isinstance(reason, str):
            events.append(Finish(STOP_REASONS.get(reason, reason)))
        if event.get("usage"):
            self._count(event["usage"])
            events.append(Usage(usage_data(self.usage)))
        return events

    def _count(self, usage: Any) -> None:
        # message_delta's counts are cumulative: the latest of each wins.
        if isinstance(usage, dict):
            self.usage.update((key, value) for key, value in usage.items() if value is not None)


def usage_data(usage: dict[str, Any]) -> dict[str, Any]:
    """Usage with OpenAI-style totals beside Anthropic's counts (its input_tokens leaves out cached input)."""
    prompt = sum(_tokens(usage.get(key)) for key in INPUT_COUNTS)
    completion = _tokens(usage.get("output_tokens"))
    totals = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {**totals, **usage}


def _tokens(value: Any) -> int:
    return value if isinstance(value, int) else 0


def stream_error(provider: str, error: Any) -> ProviderError:
    """An `error` event, as the ProviderError its HTTP status would have been before the stream."""
    kind = error.get("type") if isinstance(error, dict) else None
    message = (error.get("message") if isinstance(error, dict) else None) or "the stream failed"
    status = ERROR_STATUSES.get(kind, 502) if isinstance(kind, str) else 502
    return error_for_status(provider, status, f"{message} ({kind})" if kind else message)


def model_info(model: Any) -> ModelInfo:
    """A model of `GET /v1/models` (the SDK's ModelInfo)."""
    return ModelInfo(
        id=model.id,
        name=getattr(model, "display_name", None) or model.id,
        context_length=getattr(model, "max_input_tokens", None),
    )
