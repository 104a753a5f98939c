"""A fake Ollama server: a real HTTP app speaking Ollama's native API (../shared/wire/ollama.md).

`POST /api/chat` streams NDJSON (one JSON object for `"stream": false`), `GET /api/tags` lists the
models pulled (`ollama-tags.json`: qwen3:8b and llava:7b), `GET /api/version` says it is there.
A chat for a model not pulled is answered 404, as Ollama answers it. Each test scripts the replies
(`vendor.queue(Reply(...))`, by default the recorded `ollama-chat.ndjson`) and reads back what was
received (`vendor.requests`). Lines are written in `split`-byte pieces, so a line, and a character
inside it, are split across writes; they are encoded as Go's encoding/json writes them.
"""

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_vendor import DroppedStream, Received, wire
from tests.fakes.streaming import StreamingVendor

MODEL = "qwen3:8b"
CREATED_AT = "2025-08-18T09:12:01.101811Z"
NDJSON = "application/x-ndjson"
# Go escapes these inside strings (wire/ollama.md, section 1).
GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def line(payload: dict[str, Any]) -> bytes:
    """One NDJSON line as Ollama writes it: compact, raw UTF-8, Go's HTML escapes, then `\\n`."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    for char, escape in GO_ESCAPES.items():
        text = text.replace(char, escape)
    return f"{text}\n".encode()


def chunk(content: str = "", *, thinking: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    return {"model": MODEL, "created_at": CREATED_AT, "message": message, "done": False}


def final(done_reason: str = "stop", *, prompt: int = 12, output: int = 19) -> dict[str, Any]:
    """The last line: `done: true`, why, and the metrics (durations in nanoseconds)."""
    return {
        **chunk(),
        "done": True,
        "done_reason": done_reason,
        "total_duration": 1203348583,
        "load_duration": 41295167,
        "prompt_eval_count": prompt,
        "prompt_eval_duration": 24573166,
        "eval_count": output,
        "eval_duration": 1115959084,
    }


def text_lines(*pieces: str, thinking: tuple[str, ...] = (), done_reason: str = "stop") -> list[bytes]:
    """A reply: its thinking chunks, one line per piece of text, then the last line."""
    lines = [line(chunk(thinking=piece)) for piece in thinking]
    return [*lines, *(line(chunk(piece)) for piece in pieces), line(final(done_reason))]


def error_line(message: str) -> bytes:
    """What Ollama writes in place of the rest of a reply that failed mid-stream."""
    return line({"error": message})


@dataclass
class Reply:
    """One scripted answer to a chat request.

    `events` (lines, or whole bodies) are written with `delay` seconds between them, then `stall`;
    `drop` then cuts the connection instead of ending the body. `wait` seconds pass before anything
    is answered (a model loading). A non-200 `status` answers `{"error": error}` instead.
    """

    events: list[bytes] = field(default_factory=lambda: [wire("ollama-chat.ndjson")])
    status: int = 200
    error: str = "fake failure"
    delay: float = 0.0
    stall: float = 0.0
    split: int = 5
    drop: bool = False
    wait: float = 0.0


class FakeOllamaVendor(StreamingVendor):
    def __init__(self) -> None:
        super().__init__()
        self.replies: deque[Reply] = deque()
        self.requests: list[Received] = []
        self.tags: dict[str, Any] = json.loads(wire("ollama-tags.json"))
        self.answering = True  # False: /api/version is a 503, as from a proxy with no server behind
        self.version_requests = 0
        self.tags_requests = 0
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/api/chat", self._chat, methods=["POST"]),
                Route("/api/tags", self._tags, methods=["GET"]),
                Route("/api/version", self._version, methods=["GET"]),
            ]
        )

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def last(self) -> Received:
        return self.requests[-1]

    @property
    def pulled(self) -> set[str]:
        return {model["name"] for model in self.tags["models"]}

    async def _version(self, request: Request) -> Response:
        self.version_requests += 1
        if not self.answering:
            return Response("no server", status_code=503)
        return JSONResponse({"version": "0.11.4"})

    async def _tags(self, request: Request) -> Response:
        self.tags_requests += 1
        return JSONResponse(self.tags)

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        peer = (request.client.host, request.client.port) if request.client else None
        self.requests.append(Received(request.url.path, dict(request.headers), body, peer))
        if body.get("model") not in self.pulled:
            error = f'model "{body.get("model")}" not found, try pulling it first'
            return JSONResponse({"error": error}, status_code=404)
        reply = self.replies.popleft() if self.replies else Reply()
        if reply.wait:
            await asyncio.sleep(reply.wait)
        if reply.status != 200:
            return JSONResponse({"error": reply.error}, status_code=reply.status)
        if body.get("stream") is False:
            return Response(wire("ollama-chat.json"), media_type="application/json; charset=utf-8")
        if reply.drop:
            return DroppedStream(self, reply, NDJSON)
        return StreamingResponse(self._write(reply), media_type=NDJSON)
