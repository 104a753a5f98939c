"""The frames of the WebSocket protocol: parsing what comes in, rendering a reply's events going out.

In: `auth`, `stream_message` (seed 003's shape, plus the flat provider settings of a chat turn),
`resume`, `abort`, `continue`. Out: `stream_start`, `token`, `reasoning`, `search_results`, `media`,
`progress`, `usage`, `error`, `stream_complete`; each frame of a reply carries its `message_id` and
its `event` number, the number a client resumes after. A bad frame is never a reason to close the
socket: it is answered with an `error` frame that names the problem.
"""

from collections.abc import Iterator
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from conversation.schemas import EditRequest
from generation.event_log import Event
from models import RowId


class AuthFrame(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["auth"]
    token: str


class StreamMessageFrame(EditRequest):
    """A new user message, below `parent_message_id` (default: the session's current leaf)."""

    type: Literal["stream_message"]
    parent_message_id: RowId | None = None

    @classmethod
    def _own_fields(cls) -> set[str]:
        return {*super()._own_fields(), "type", "parent_message_id"}


class ResumeFrame(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["resume"]
    message_id: RowId
    last_event: int = Field(0, ge=0, le=2**31 - 1)


class AbortFrame(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["abort"]
    message_id: RowId


class ContinueFrame(BaseModel):
    model_config = ConfigDict(strict=True)

    type: Literal["continue"]
    message_id: RowId


Frame = AuthFrame | StreamMessageFrame | ResumeFrame | AbortFrame | ContinueFrame
FRAME_TYPES: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(model)
    for name, model in {
        "auth": AuthFrame,
        "stream_message": StreamMessageFrame,
        "resume": ResumeFrame,
        "abort": AbortFrame,
        "continue": ContinueFrame,
    }.items()
}


class BadFrame(ValueError):
    """A frame the protocol cannot take; `details` lists the fields at fault, if that is the cause."""

    def __init__(self, problem: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(problem)
        self.details = details

    def frame(self) -> dict[str, Any]:
        found: dict[str, Any] = {"type": "error", "error": str(self)}
        if self.details:
            found["details"] = self.details
        return found


def parse(text: str | None, limit: int) -> Frame:
    """The frame `text` holds; raises BadFrame saying why it is not one."""
    if text is None:
        raise BadFrame("binary frames are not taken: send each frame as JSON text")
    size = len(text.encode())
    if size > limit:
        raise BadFrame(f"frame of {size} bytes is over the limit of {limit} bytes (WS_MAX_FRAME_BYTES)")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadFrame(f"frame is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadFrame('a frame is a JSON object with a "type"')
    kind = data.get("type")
    adapter = FRAME_TYPES.get(kind) if isinstance(kind, str) else None
    if adapter is None:
        known = ", ".join(FRAME_TYPES)
        raise BadFrame(f"unknown frame type {kind!r}: the known types are {known}")
    try:
        frame: Frame = adapter.validate_python(data)
    except ValidationError as exc:
        details = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]
        fields = "; ".join(f"{'.'.join(map(str, d['loc'])) or kind}: {d['msg']}" for d in details)
        raise BadFrame(f"invalid {kind} frame: {fields}", details) from exc
    return frame


def token_frame(message_id: int, number: int, text: str) -> str:
    """A token frame, encoded: the frame of nearly every event, written without building a dict."""
    token = orjson.dumps(text).decode()
    return f'{{"type":"token","message_id":{message_id},"event":{number},"token":{token},"content":{token}}}'


# The stream's closing event: rendered as stream_complete from the reply's final state.
DONE: dict[str, Any] = {"type": "stream_complete"}
MEDIA_KINDS = ("images", "videos", "audios")


# The most text one merged frame carries: a slow reader's backlog goes out in frames of this size,
# not as one copy of the whole reply.
MERGED_CHARS = 16_384


def coalesced(batch: list[tuple[int, Event]]) -> Iterator[tuple[int, Event]]:
    """The batch with each run of text (or reasoning) deltas ready at once as one event.

    Numbered by the last event it holds, so a resume after it starts where it ends: a socket
    sends what is ready in as few frames as SSE writes it in one send. Lazily, so a slow reader's
    backlog is never copied whole.
    """
    kind: str | None = None
    pieces: list[str] = []
    last = size = 0
    for number, event in batch:
        # Per event of a burst: plain tests, no generator (this loop is the bulk relay's hot path).
        this = None
        if len(event) == 1:
            this = "content" if "content" in event else "reasoning" if "reasoning" in event else None
        if this is not None and this == kind and size + len(event[this]) <= MERGED_CHARS:
            pieces.append(event[this])
            last, size = number, size + len(event[this])
            continue
        if kind is not None:
            yield last, {kind: "".join(pieces)}
        if this is None:
            kind = None
            yield number, event
        else:
            kind, pieces, last, size = this, [event[this]], number, len(event[this])
    if kind is not None:
        yield last, {kind: "".join(pieces)}


def render(session_id: int, message_id: int, number: int, event: Event) -> dict[str, Any] | str | None:
    """The frame of one numbered event of a reply's log; None for what this protocol leaves out.

    A token frame comes encoded (a str), the others as dicts.
    """
    if "content" in event:
        # `content` repeats the token, as seed 003's frames carry both; never the text so far,
        # which would make a long reply's frames grow with it.
        return token_frame(message_id, number, event["content"])
    if "reasoning" in event:
        return {
            "type": "reasoning",
            "message_id": message_id,
            "event": number,
            "reasoning": event["reasoning"],
        }
    if "search_results" in event:
        results = event["search_results"]
        return {
            "type": "search_results",
            "message_id": message_id,
            "event": number,
            "search_results": results,
        }
    if "message_id" in event:
        return {
            "type": "stream_start",
            "message_id": message_id,
            "session_id": session_id,
            "event": number,
            "status": "streaming",
        }
    if "done" in event:
        return DONE
    for kind in ("error", "usage", "progress"):
        if kind in event:
            return {"type": kind, "message_id": message_id, "event": number, kind: event[kind]}
    media = {kind: event[kind] for kind in MEDIA_KINDS if kind in event}
    if media:
        return {"type": "media", "message_id": message_id, "event": number, **media}
    return None  # the opening session_id: stream_start names the session


def complete(message_id: int, number: int, columns: dict[str, Any]) -> dict[str, Any]:
    """The stream_complete frame of a reply that has ended, from its row's columns."""
    return {
        "type": "stream_complete",
        "message_id": message_id,
        "event": number,
        "status": columns["status"],
        "finish_reason": columns["finish_reason"],
        "content": columns["content"],
    }
