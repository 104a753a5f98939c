"""A reply as it accumulates, and its one way to render itself.

Three renderings must never drift apart: the events a live stream relays, the events a replay of
an ended reply sends, and the columns of its stored row. All three come from here: `apply` folds a
provider's event into the reply and renders its wire form with `wire`; `replay` renders a reply
built from its row through the same `wire`; `columns` is the row. WebSocket and OpenAI-compatible
streams are further renderings of the same events.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

from generation.event_log import Event, EventLog
from providers.base import (
    Finish,
    MediaOutput,
    Progress,
    ReasoningDelta,
    Routed,
    SearchResults,
    StreamEvent,
    TextDelta,
    ThoughtSignature,
    ToolCallDelta,
    Usage,
)

# Where the reply stands after an event, to cut it back there: lengths of text, reasoning,
# search results and media.
Mark = tuple[int, int, int, int]
# The media kinds a reply stores, in the order a replay sends them.
MEDIA_COLUMNS = ("images", "videos", "audios")


def wire(event: StreamEvent) -> Event | None:
    """The contract's form of an event (`{"content": ...}`), or None for what a client never sees."""
    match event:
        case TextDelta(text):
            return {"content": text}
        case ReasoningDelta(text):
            return {"reasoning": text}
        case SearchResults(items):
            return {"search_results": list(items)}
        case MediaOutput(kind, urls):
            return {kind: list(urls)}
        case Progress(status, percent):
            return {"progress": {"status": status, "percent": percent}}
        case ToolCallDelta(calls):
            return {"tool_calls": list(calls)}
    return None


def advanced(mark: Mark, events: list[Event]) -> Mark:
    """Where a reply at `mark` stands once the live `events` (rendered by `wire`) are folded in.

    Counted when needed (a stop), so that the per-chunk path keeps no mark of its own.
    """
    text, reasoning, search_results, media = mark
    for event in events:
        if "content" in event:
            text += 1
        elif "reasoning" in event:
            reasoning += 1
        elif "search_results" in event:
            search_results += len(event["search_results"])
        else:
            media += sum(len(event[column]) for column in MEDIA_COLUMNS if column in event)
    return text, reasoning, search_results, media


def merged_tool_calls(pieces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Streamed tool-call pieces (ToolCallDelta items) joined into whole calls, by their index."""
    calls: dict[int, dict[str, Any]] = {}
    for piece in pieces:
        index = piece.get("index", 0)
        call = calls.setdefault(index, {"index": index, "id": "", "type": "function", "function": {}})
        if piece.get("id"):
            call["id"] = piece["id"]
        function = piece.get("function") or {}
        if function.get("name"):
            call["function"]["name"] = function["name"]
        arguments = call["function"].get("arguments", "") + (function.get("arguments") or "")
        call["function"]["arguments"] = arguments
    return [calls[index] for index in sorted(calls)]


def opening(session_id: int, message_id: int) -> list[Event]:
    """The first two events of every stream of a reply, live or replayed."""
    return [{"session_id": session_id}, {"message_id": message_id}]


def replay_log(row: "StoredReply") -> EventLog:
    """The event log of a reply that has ended, rebuilt from its row so a resume can replay it."""
    return EventLog.of(opening(row.session_id, row.id) + Reply.from_row(row).replay())


class StoredReply(Protocol):
    """The columns of a stored assistant message that a replay needs."""

    id: int
    session_id: int
    content: str
    thought_process: str | None
    search_results: list[dict[str, Any]] | None
    thought_signatures: list[str] | None
    images: list[str] | None
    videos: list[str] | None
    audios: list[str] | None
    status: str
    finish_reason: str | None
    usage: dict[str, Any] | None
    error: str | None
    tool_calls: list[dict[str, Any]] | None


@dataclass(slots=True)
class Reply:
    """The text, reasoning, sources, media and outcome of one assistant reply so far."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    search_results: list[dict[str, Any]] = field(default_factory=list)
    media: list[tuple[str, str]] = field(default_factory=list)  # (column, url)
    signatures: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    status: str = "streaming"
    error: str | None = None
    # Pieces of the function calls the model made (ToolCallDelta items), in order; stored whole.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # The vendor and model that answered, when it was not decided before the reply began.
    routed: tuple[str, str] | None = None

    @classmethod
    def continuing(cls, row: StoredReply) -> "Reply":
        """A stored reply that goes on (continue): it keeps all it has; only what is new is streamed."""
        reply = cls.from_row(row)
        reply.status, reply.finish_reason, reply.error = "streaming", None, None
        return reply

    @classmethod
    def from_row(cls, row: StoredReply) -> "Reply":
        return cls(
            text=[row.content] if row.content else [],
            reasoning=[row.thought_process] if row.thought_process else [],
            search_results=list(row.search_results or ()),
            media=[(column, url) for column in MEDIA_COLUMNS for url in getattr(row, column) or ()],
            signatures=list(row.thought_signatures or ()),
            usage=row.usage,
            finish_reason=row.finish_reason,
            status=row.status,
            error=row.error,
            tool_calls=list(row.tool_calls or ()),
        )

    # --- accumulating -----------------------------------------------------------------------

    def apply(self, event: StreamEvent) -> Event | None:
        """Fold a provider's event into the reply; return what a live stream relays, if anything."""
        match event:
            case TextDelta(text):
                self.text.append(text)
            case ReasoningDelta(text):
                self.reasoning.append(text)
            case SearchResults(items):
                self.search_results.extend(items)
            case MediaOutput(kind, urls):
                self.media.extend((kind, url) for url in urls)
            case ThoughtSignature(value):
                self.signatures.append(value)
            case Usage(data):
                self.usage = dict(data)
            case Finish(reason):
                self.finish_reason = reason
            case ToolCallDelta(calls):
                self.tool_calls.extend(calls)
            case Routed(provider, model):
                self.routed = (provider, model)
        return wire(event)

    def mark(self) -> Mark:
        return len(self.text), len(self.reasoning), len(self.search_results), len(self.media)

    def cut(self, mark: Mark) -> None:
        """Go back to where the reply stood at `mark` (what a client that left had been sent)."""
        text, reasoning, search_results, media = mark
        del self.text[text:], self.reasoning[reasoning:]
        del self.search_results[search_results:], self.media[media:]

    def end(self, status: str, finish_reason: str, error: str | None) -> None:
        self.status, self.finish_reason, self.error = status, finish_reason, error

    @property
    def ended(self) -> bool:
        return self.status != "streaming"

    # --- rendering --------------------------------------------------------------------------

    def closing(self) -> list[Event]:
        """The last events of a stream of an ended reply: its error or its usage, then `done`."""
        if self.error is not None:
            return [{"error": self.error}, {"done": True}]
        if self.usage:
            return [{"usage": self.usage}, {"done": True}]
        return [{"done": True}]

    def replay(self) -> list[Event]:
        """The whole reply as a stream's events after the opening two, each kind in one event."""
        parts: list[StreamEvent] = []
        if self.reasoning:
            parts.append(ReasoningDelta("".join(self.reasoning)))
        if self.text:
            parts.append(TextDelta("".join(self.text)))
        if self.search_results:
            parts.append(SearchResults(tuple(self.search_results)))
        for column in MEDIA_COLUMNS:
            urls = tuple(url for kind, url in self.media if kind == column)
            if urls:
                parts.append(MediaOutput(column, urls))
        if self.tool_calls:
            parts.append(ToolCallDelta(tuple(merged_tool_calls(self.tool_calls))))
        events = [rendered for part in parts if (rendered := wire(part)) is not None]
        return events + self.closing()

    def columns(self) -> dict[str, Any]:
        """The stored row's columns as they stand now; the text is joined only here."""
        fields: dict[str, Any] = {
            "content": "".join(self.text),
            "thought_process": "".join(self.reasoning) or None,
            "search_results": list(self.search_results) or None,
            "thought_signatures": list(self.signatures) or None,
            "status": self.status,
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "error": self.error,
            "tool_calls": merged_tool_calls(self.tool_calls) or None,
        }
        for column in MEDIA_COLUMNS:
            fields[column] = [url for kind, url in self.media if kind == column] or None
        if self.routed is not None:
            fields["provider"], fields["model"] = self.routed
        return fields
