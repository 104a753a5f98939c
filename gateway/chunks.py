"""A generation's events in OpenAI's form: `chat.completion.chunk` frames, or one `chat.completion`.

The same events every stream of a reply follows (generation/reply.py `wire`), rendered once more:
`content` is `delta.content`, `reasoning` is `delta.reasoning_content` (as DeepSeek sends it),
`tool_calls` goes through as the vendor sent it. The final chunk carries the finish reason, then
the usage chunk when `stream_options.include_usage` asked for it, then `[DONE]`.
"""

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi.sse import format_sse_event

from generation.event_log import Event
from generation.reply import Reply, merged_tool_calls

# The finish reasons OpenAI's clients know; ours (stopped, interrupted, error ...) end as "stop".
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
DONE = format_sse_event(data_str="[DONE]")
# A stand-in for a delta, where the frame of a content chunk is cut in two.
SLOT = "\x00delta\x00"
SLOT_JSON = orjson.dumps(SLOT)


def finish_reason(reply: Reply) -> str:
    reason = (reply.finish_reason or "stop").lower()
    if reason in FINISH_REASONS:
        return reason
    return "tool_calls" if reply.tool_calls and reason == "stop" else "stop"


def openai_usage(usage: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A reply's stored usage as OpenAI states it: the three counts, their details, and the cost."""
    if not usage:
        return None
    counts = {key: usage[key] if isinstance(usage.get(key), int) else 0 for key in USAGE_KEYS}
    details = {
        k: usage[k] for k in ("prompt_tokens_details", "completion_tokens_details", "cost") if k in usage
    }
    return {**counts, **details}


class ChunkWriter:
    """Frames a reply's event batches as Chat Completions chunks."""

    def __init__(self, reply: Reply, model: str, *, include_usage: bool) -> None:
        self.reply = reply
        self.model = model
        self.include_usage = include_usage
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self._usage: dict[str, Any] | None = None
        self._role_sent = False
        # Every content chunk differs from the last only in its delta: its frame is a prefix, the
        # delta's JSON and a suffix, built once (the relay's per-chunk path).
        before, _, after = self._frame({**self._base(), "choices": [self._choice(SLOT)]}).partition(SLOT_JSON)
        self._before, self._after = before, after

    def frame(self, batch: list[tuple[int, Event]]) -> bytes:
        chunks: list[dict[str, Any] | bytes] = []
        done = False
        for _, event in batch:
            if "done" in event:
                done = True
                chunks.append(self._chunk({}, finish_reason(self.reply)))
                if self.include_usage:
                    chunks.append({**self._base(), "choices": [], "usage": openai_usage(self._usage)})
            else:
                chunks.extend(self._event_chunks(event))
        body = b"".join(chunk if isinstance(chunk, bytes) else self._frame(chunk) for chunk in chunks)
        return body + DONE if done else body

    def _frame(self, chunk: dict[str, Any]) -> bytes:
        return format_sse_event(data_str=orjson.dumps(chunk).decode())

    def _event_chunks(self, event: Event) -> list[dict[str, Any] | bytes]:
        if "content" in event and self._role_sent:
            return [self._before + orjson.dumps({"content": event["content"]}) + self._after]
        if "content" in event:
            return [self._chunk({"content": event["content"]})]
        if "reasoning" in event:
            return [self._chunk({"reasoning_content": event["reasoning"]})]
        if "tool_calls" in event:
            return [self._chunk({"tool_calls": event["tool_calls"]})]
        if "usage" in event:
            self._usage = event["usage"]
        elif "error" in event:
            # What the openai SDK raises as an APIError when a stream carries it.
            return [{"error": {"message": event["error"], "type": "api_error", "param": None, "code": None}}]
        return []  # session and message ids, sources, media: not part of this wire

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        return {**self._base(), "choices": [self._choice(delta, finish)]}

    @staticmethod
    def _choice(delta: Any, finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def _base(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }


def completion(reply: Reply, model: str) -> dict[str, Any]:
    """The whole reply as one `chat.completion`."""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.text) or None}
    if reply.reasoning:
        message["reasoning_content"] = "".join(reply.reasoning)
    if reply.tool_calls:
        # A whole message's calls carry no `index`, which only a stream's pieces need.
        calls = merged_tool_calls(reply.tool_calls)
        message["tool_calls"] = [{k: v for k, v in call.items() if k != "index"} for call in calls]
    elif message["content"] is None:
        message["content"] = ""
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(reply)}
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": openai_usage(reply.usage),
    }
