"""A fake OpenAI-compatible vendor: a real HTTP app speaking the Chat Completions wire format.

Each test scripts the replies (`vendor.queue(...)`) and reads back what was received
(`vendor.requests`) and how many streams the client abandoned (`vendor.disconnects`).
Streams are written in small byte pieces so frames split at awkward boundaries.
"""

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.streaming import ScriptedStream, StreamingVendor

WIRE = Path(__file__).parent / "wire"


def wire(name: str) -> bytes:
    """A byte-exact sample body from the vendors' wire formats."""
    return (WIRE / name).read_bytes()


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def chunk(
    content: str | list[dict[str, Any]] | None = None,
    *,
    reasoning_content: str | None = None,
    reasoning: str | None = None,
    finish_reason: str | None = None,
    annotations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if reasoning_content is not None:
        delta["reasoning_content"] = reasoning_content
    if reasoning is not None:
        delta["reasoning"] = reasoning
    if annotations is not None:
        delta["annotations"] = annotations
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1755500400,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        "usage": None,
    }


def usage_chunk(prompt: int = 5, completion: int = 7) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1755500400,
        "model": "fake-model",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def text_stream(*pieces: str, usage: bool = True, finish: str = "stop") -> list[bytes]:
    """SSE events of a plain reply: one content chunk per piece, finish, usage, [DONE]."""
    events = [sse(chunk(piece)) for piece in pieces]
    events.append(sse(chunk(finish_reason=finish)))
    if usage:
        events.append(sse(usage_chunk()))
    events.append(sse("[DONE]"))
    return events


def completion(
    content: str | list[dict[str, Any]] | None,
    *,
    reasoning_content: str | None = None,
    annotations: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole (non-streamed) `chat.completion` body with one choice."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning_content is not None:
        message["reasoning_content"] = reasoning_content
    if annotations is not None:
        message["annotations"] = annotations
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1755500400,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage or usage_chunk()["usage"],
    }


# What a busy DeepSeek writes before a non-streamed body while the model thinks, one write each.
KEEP_ALIVE = (b"\n\n", b"\r\n", b"   ", b"\n", b" \r\n\n")


@dataclass
class Reply:
    """One scripted answer to a chat request.

    `events` are written in order with `delay` seconds between them; `stall` seconds are waited
    after them (before the stream ends). `wait` seconds pass before anything is answered (not even
    the status line). `drop` cuts the connection after the events, leaving the body incomplete.
    A non-200 `status` answers `error` as JSON instead. `media_type` is the body's content type.
    """

    events: list[bytes] = field(default_factory=list)
    status: int = 200
    error: dict[str, Any] | None = None
    delay: float = 0.0
    stall: float = 0.0
    split: int = 7
    headers: dict[str, str] = field(default_factory=dict)
    wait: float = 0.0
    drop: bool = False
    media_type: str = "text/event-stream"


def whole_reply(body: dict[str, Any] | bytes, *, keep_alive: tuple[bytes, ...] = KEEP_ALIVE) -> Reply:
    """A reply sent whole as `application/json`, as a vendor answers that ignores `stream: true`.

    The keep-alive blank lines and spaces go out as separate writes, a little apart, then the body.
    """
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return Reply([*keep_alive, data], delay=0.02, media_type="application/json")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    peer: tuple[str, int] | None = None  # the client's address: one per TCP connection


class FakeOpenAIVendor(StreamingVendor):
    def __init__(self) -> None:
        super().__init__()
        self.replies: deque[Reply] = deque()
        self.requests: list[Received] = []
        self.models: Any = json.loads(wire("openai-models.json"))
        self.models_status = 200
        self.model_requests = 0
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def _models(self, request: Request) -> Response:
        self.model_requests += 1
        if self.models_status != 200:
            return JSONResponse({"error": {"message": "models unavailable"}}, status_code=self.models_status)
        if isinstance(self.models, bytes):  # a body that is no JSON (an HTML error page, say)
            return Response(self.models, media_type="text/html")
        return JSONResponse(self.models)

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        peer = (request.client.host, request.client.port) if request.client else None
        self.requests.append(Received(request.url.path, dict(request.headers), body, peer))
        reply = self.replies.popleft() if self.replies else Reply(text_stream("Hello", " world"))
        if reply.wait:
            await asyncio.sleep(reply.wait)
        if reply.status != 200:
            error = reply.error or {"error": {"message": f"fake status {reply.status}"}}
            return JSONResponse(error, status_code=reply.status, headers=reply.headers)
        if not body.get("stream"):
            return JSONResponse(json.loads(wire("openai-chat-completion.json")))
        if reply.drop:
            return DroppedStream(self, reply)
        return StreamingResponse(self._write(reply), media_type=reply.media_type, headers=reply.headers)


class DroppedStream(Response):
    """A 200 stream whose connection is cut after the scripted events (no `[DONE]`, no end of body)."""

    def __init__(
        self, vendor: StreamingVendor, reply: ScriptedStream, media_type: str = "text/event-stream"
    ) -> None:
        super().__init__()
        self.vendor = vendor
        self.reply = reply
        self.stream_type = media_type

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # No content-length: the body goes out chunked, so the cut leaves it visibly incomplete.
        headers = [(b"content-type", self.stream_type.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        async for piece in self.vendor._write(self.reply):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        # Returning without the final body message makes uvicorn close the socket mid-body,
        # which is what a vendor dropping the connection looks like to the client.
