"""A fake Anthropic API: a real HTTP app speaking the Messages wire format (../shared/wire/anthropic.md).

Each test scripts the replies (`vendor.queue(...)`) and reads back what was received
(`vendor.requests`) and how its streams ended (`vendor.disconnects`, `vendor.completed`). Streams
are named events (`event:` and `data:` lines, no `[DONE]`), written in small byte pieces so frames,
and the UTF-8 characters in them, split at awkward boundaries.
"""

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_vendor import wire
from tests.fakes.streaming import StreamingVendor

MODEL = "claude-sonnet-4-5-20250929"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def event(payload: dict[str, Any]) -> bytes:
    """One event as the API frames it: its type as the `event:` name, compact JSON as the data."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"event: {payload['type']}\ndata: {data}\n\n".encode()


def message_start(**usage: int) -> bytes:
    counts = {
        "input_tokens": 12,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    message = {
        "model": MODEL,
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": counts | usage,
    }
    return event({"type": "message_start", "message": message})


def block_start(index: int, block: dict[str, Any]) -> bytes:
    return event({"type": "content_block_start", "index": index, "content_block": block})


def delta(index: int, payload: dict[str, Any]) -> bytes:
    return event({"type": "content_block_delta", "index": index, "delta": payload})


def block_stop(index: int) -> bytes:
    return event({"type": "content_block_stop", "index": index})


def message_delta(stop_reason: str | None = "end_turn", **usage: int) -> bytes:
    counts = {"output_tokens": 7} | usage
    payload = {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}}
    return event(payload | {"usage": counts})


def message_stop() -> bytes:
    return event({"type": "message_stop"})


def ping() -> bytes:
    return event({"type": "ping"})


def error_event(kind: str = "overloaded_error", message: str = "Overloaded") -> bytes:
    return event({"type": "error", "error": {"type": kind, "message": message}})


def text_block(index: int, *pieces: str, citations: tuple[dict[str, Any], ...] = ()) -> list[bytes]:
    cited = [delta(index, {"type": "citations_delta", "citation": c}) for c in citations]
    texts = [delta(index, {"type": "text_delta", "text": piece}) for piece in pieces]
    return [block_start(index, {"type": "text", "text": ""}), *cited, *texts, block_stop(index)]


def thinking_block(index: int, *pieces: str, signature: str) -> list[bytes]:
    thoughts = [delta(index, {"type": "thinking_delta", "thinking": piece}) for piece in pieces]
    return [
        block_start(index, {"type": "thinking", "thinking": "", "signature": ""}),
        *thoughts,
        delta(index, {"type": "signature_delta", "signature": signature}),
        block_stop(index),
    ]


def redacted_block(index: int, data: str) -> list[bytes]:
    return [block_start(index, {"type": "redacted_thinking", "data": data}), block_stop(index)]


def reply(*blocks: list[bytes], stop_reason: str = "end_turn", **usage: int) -> list[bytes]:
    """A whole streamed message: message_start, the blocks, message_delta, message_stop."""
    return [
        message_start(),
        *chain.from_iterable(blocks),
        message_delta(stop_reason, **usage),
        message_stop(),
    ]


def text_stream(*pieces: str, stop_reason: str = "end_turn") -> list[bytes]:
    return reply(text_block(0, *pieces), stop_reason=stop_reason)


def wire_events(name: str) -> list[bytes]:
    """A byte-exact `.sse` sample, one element an event."""
    return [piece + b"\n\n" for piece in wire(name).split(b"\n\n") if piece]


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error")
    error = {"type": kind, "message": message or f"fake {status}"}
    return {"type": "error", "error": error, "request_id": "req_fake"}


@dataclass
class Reply:
    """One scripted answer to POST /v1/messages.

    `events` are written with `delay` seconds between them, then `stall` seconds pass; `drop` then
    breaks the connection instead of ending the body. `wait` seconds pass before anything is sent.
    A non-200 `status` answers `error` (by default an Anthropic error body for that status) as JSON.
    """

    events: list[bytes] = field(default_factory=list)
    status: int = 200
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    stall: float = 0.0
    split: int = 7
    wait: float = 0.0
    drop: bool = False


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    peer: tuple[str, int] | None = None  # the client's address: one per TCP connection

    @property
    def api_key(self) -> str | None:
        """The key, sent as `x-api-key` (the docs' form) or `Authorization: Bearer` (SDK 2.x)."""
        bearer = self.headers.get("authorization", "").removeprefix("Bearer ")
        return self.headers.get("x-api-key") or bearer or None


class FakeAnthropicVendor(StreamingVendor):
    def __init__(self) -> None:
        super().__init__()
        self.replies: deque[Reply] = deque()
        self.requests: list[Received] = []
        self.url = ""
        self.models: list[dict[str, Any]] = json.loads(wire("anthropic-models.json"))["data"]
        self.page_size: int | None = None  # the most models a page holds besides the client's `limit`
        self.models_status = 200
        self.model_queries: list[dict[str, str]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def last(self) -> Received:
        return self.requests[-1]

    async def _messages(self, request: Request) -> Response:
        peer = (request.client.host, request.client.port) if request.client else None
        received = Received(request.url.path, dict(request.headers), await request.json(), peer)
        self.requests.append(received)
        if received.api_key is None:
            return JSONResponse(error_body(401, "x-api-key header is required"), status_code=401)
        reply = self.replies.popleft() if self.replies else Reply(text_stream("Hello", " world"))
        if reply.wait:
            await asyncio.sleep(reply.wait)
        if reply.status != 200:
            body = reply.error or error_body(reply.status)
            return JSONResponse(body, status_code=reply.status, headers=reply.headers)
        if not received.body.get("stream"):
            return JSONResponse(json.loads(wire("anthropic-message.json")))
        stream = self._write(reply, abort=reply.drop)
        return StreamingResponse(stream, media_type="text/event-stream", headers=reply.headers)

    async def _models(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.model_queries.append(query)
        if self.models_status != 200:
            return JSONResponse(error_body(self.models_status), status_code=self.models_status)
        ids = [model["id"] for model in self.models]
        start = ids.index(query["after_id"]) + 1 if "after_id" in query else 0
        size = min(int(query.get("limit", 20)), self.page_size or 1000)
        page = self.models[start : start + size]
        return JSONResponse(
            {
                "data": page,
                "has_more": start + size < len(self.models),
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            }
        )
