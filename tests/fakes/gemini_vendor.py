"""A fake Gemini API: a real HTTP app speaking the Gemini REST wire format (../shared/wire/gemini.md).

Each test scripts the replies (`vendor.queue(...)`) and reads back what was received
(`vendor.requests`, with camelCase and snake_case bodies as the SDK sends them) and how many
streams the client abandoned (`vendor.disconnects`). Streams are CRLF-framed SSE without `[DONE]`,
written in small byte pieces so frames split at awkward boundaries.
"""

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_vendor import wire
from tests.fakes.streaming import StreamingVendor

MODEL_VERSION = "gemini-2.5-flash"


def sse(payload: dict[str, Any]) -> bytes:
    """One event framed like the Gemini API: Google's JSON spacing, CRLF, no `event:` lines."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ": "))
    return f"data: {data}\r\n\r\n".encode()


def part(text: str, *, thought: bool = False, signature: str | None = None) -> dict[str, Any]:
    piece: dict[str, Any] = {"text": text}
    if thought:
        piece["thought"] = True
    if signature is not None:
        piece["thoughtSignature"] = signature
    return piece


def usage(prompt: int = 9, candidates: int = 5, thoughts: int = 0) -> dict[str, Any]:
    meta = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
    }
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    return meta


def response(
    *parts: dict[str, Any],
    finish: str | None = None,
    grounding: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A GenerateContentResponse holding only these (new) parts, as each stream event does."""
    candidate: dict[str, Any] = {"content": {"parts": list(parts), "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    if grounding is not None:
        candidate["groundingMetadata"] = grounding
    return {
        "candidates": [candidate],
        "usageMetadata": meta or usage(),
        "modelVersion": MODEL_VERSION,
        "responseId": "fake-response-id",
    }


def text_stream(*pieces: str, finish: str = "STOP") -> list[bytes]:
    """A plain reply: one event per piece, `finishReason` on the last one."""
    return [
        sse(response(part(piece), finish=finish if index == len(pieces) - 1 else None))
        for index, piece in enumerate(pieces)
    ]


def blocked_prompt(reason: str = "SAFETY") -> list[bytes]:
    """The prompt was refused: no candidates, only `promptFeedback.blockReason`."""
    return [sse({"promptFeedback": {"blockReason": reason}, "usageMetadata": usage(candidates=0)})]


def wire_events(name: str) -> list[bytes]:
    """A byte-exact `.sse` sample, or a `.json` response sample sent as one SSE event."""
    body = wire(name)
    if name.endswith(".json"):
        return [sse(json.loads(body))]
    return [body]


@dataclass
class Reply:
    """One scripted answer. `events` are written with `delay` seconds between them, then `stall`;
    `drop` then breaks the connection instead of ending the body.

    A non-200 `status` answers `error` (or `gemini-error-429.json` for 429) as JSON instead.
    `body` is the JSON answer of `:predict` and `:generateContent`.
    """

    events: list[bytes] = field(default_factory=list)
    body: dict[str, Any] | None = None
    status: int = 200
    error: dict[str, Any] | None = None
    delay: float = 0.0
    stall: float = 0.0
    drop: bool = False
    split: int = 7


@dataclass
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str:
        return self.path.rsplit("/", 1)[-1].split(":")[0]


def camel(value: Any) -> Any:
    """The request with snake_case keys camelCased: the SDK sends both spellings (proto3 JSON)."""
    if isinstance(value, dict):
        return {_camel_key(key): camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [camel(item) for item in value]
    return value


def _camel_key(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.title() for word in rest)


class FakeGeminiVendor(StreamingVendor):
    def __init__(self) -> None:
        super().__init__()
        self.replies: deque[Reply] = deque()
        self.requests: list[Received] = []
        self.models: dict[str, Any] = json.loads(wire("gemini-models.json"))
        self.model_requests = 0
        self.models_status = 200
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/{version}/models", self._models, methods=["GET"]),
                Route("/{version}/models/{target}", self._call, methods=["POST"]),
            ]
        )

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def last(self) -> Received:
        return self.requests[-1]

    async def _models(self, request: Request) -> Response:
        self.model_requests += 1
        if self.models_status != 200:
            error = {"error": {"code": self.models_status, "message": "models unavailable"}}
            return JSONResponse(error, status_code=self.models_status)
        return JSONResponse(self.models)

    async def _call(self, request: Request) -> Response:
        body = camel(await request.json())
        self.requests.append(Received(request.url.path, request.url.query, dict(request.headers), body))
        action = request.path_params["target"].partition(":")[2]
        reply = self.replies.popleft() if self.replies else Reply(text_stream("Hello", " world"))
        if reply.status != 200:
            default = json.loads(wire("gemini-error-429.json")) if reply.status == 429 else None
            error = reply.error or default or {"error": {"code": reply.status, "message": "fake failure"}}
            return JSONResponse(error, status_code=reply.status)
        if action == "streamGenerateContent":
            return StreamingResponse(self._write(reply, abort=reply.drop), media_type="text/event-stream")
        if action == "predict":
            return JSONResponse(reply.body or json.loads(wire("imagen-predict-response.json")))
        if action == "generateContent":
            return JSONResponse(reply.body or merge(reply.events))
        return JSONResponse({"error": {"code": 404, "message": f"unknown action {action}"}}, 404)


def merge(events: list[bytes]) -> dict[str, Any]:
    """The non-streaming answer equivalent to a scripted stream: parts joined, last metadata kept."""
    payloads = [
        json.loads(line[len(b"data: ") :])
        for event in events
        for line in event.split(b"\r\n")
        if line.startswith(b"data: ")
    ]
    merged: dict[str, Any] = {}
    parts: list[dict[str, Any]] = []
    for payload in payloads:
        for candidate in payload.get("candidates", []):
            parts.extend(candidate.get("content", {}).get("parts", []))
            merged["candidates"] = [{**candidate, "content": {"parts": parts, "role": "model"}}]
        merged.update({key: value for key, value in payload.items() if key != "candidates"})
    return merged
