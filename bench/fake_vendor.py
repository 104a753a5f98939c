"""A fast fake vendor for the relay benchmark (OpenAI-compatible, Anthropic, Ollama): raw asyncio.

`python -m bench.fake_vendor --port N` serves, on 127.0.0.1 with HTTP/1.1 keep-alive:

    POST /v1/chat/completions, GET /v1/models      OpenAI-compatible (SSE `data:` lines)
    POST /v1/messages, GET /v1/models              Anthropic Messages (SSE with `event:` lines); the
                                                   models list is Anthropic's when the request has an
                                                   `anthropic-version` header
    POST /api/chat, GET /api/version, /api/tags    Ollama's native API (NDJSON)

The stream's shape comes from the model name (or an `X-Bench-Plan` header, which wins):

    bench-bulk-2000        2,000 content chunks, the whole body in one write
    bench-paced-100-5ms    100 content chunks, one per write, 5 ms apart (like a real model)

Each OpenAI stream is: N content chunks ("w0 ", "w1 ", ... so the text never repeats and the
service's loop detection stays quiet), a finish chunk, a usage chunk, `data: [DONE]`. An Anthropic
stream is message_start, content_block_start, N text_delta events with the same texts,
content_block_stop, message_delta (end_turn, usage), message_stop; an Ollama one N message lines
and a `done` line (done_reason stop, counts). Paced, the events before the first text go with it
and the events after the last follow it at once. Bodies are built once per wire and plan and
cached, so the fake spends its time on sockets, not on JSON.
Wire references: ../shared/wire/anthropic.md, ../shared/wire/ollama.md
"""

import argparse
import asyncio
import functools
import json
import re
import signal
import socket
from dataclasses import dataclass
from typing import cast

PLAN = re.compile(r"bench-(bulk|paced)-(\d+)(?:-(\d+(?:\.\d+)?)ms)?")
MODELS = json.dumps(
    {"object": "list", "data": [{"id": "bench-bulk-10", "object": "model", "owned_by": "bench"}]}
).encode()
ANTHROPIC_MODELS = json.dumps(
    {
        "data": [
            {
                "type": "model",
                "id": "bench-bulk-10",
                "display_name": "Bench bulk 10",
                "created_at": "2025-09-29T00:00:00Z",
            }
        ],
        "has_more": False,
        "first_id": "bench-bulk-10",
        "last_id": "bench-bulk-10",
    }
).encode()
OLLAMA_VERSION = json.dumps({"version": "0.11.4"}).encode()
OLLAMA_TAGS = json.dumps(
    {
        "models": [
            {
                "name": "bench-bulk-10",
                "model": "bench-bulk-10",
                "modified_at": "2025-08-10T08:06:48.639712648-07:00",
                "size": 1000,
                "digest": "0" * 64,
                "details": {"format": "gguf", "family": "bench", "parameter_size": "1B"},
            }
        ]
    }
).encode()
CREATED_AT = "2025-08-18T09:12:01.101811Z"


def _head(content_type: str) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncache-control: no-cache\r\n"
        "transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
    ).encode()


STREAM_HEAD = _head("text/event-stream")
NDJSON_HEAD = _head("application/x-ndjson")
# The wires a chat may come in on, by the path's ending.
WIRES = {"/chat/completions": "openai", "/v1/messages": "anthropic", "/api/chat": "ollama"}
MAX_CHUNKS = 1_000_000


@dataclass(frozen=True, slots=True)
class Plan:
    paced: bool
    chunks: int
    delay: float


def parse_plan(text: str) -> Plan | None:
    match = PLAN.fullmatch(text.strip())
    if match is None:
        return None
    mode, count, delay_ms = match.groups()
    return Plan(mode == "paced", min(int(count), MAX_CHUNKS), float(delay_ms or 0) / 1000)


def expected_text(chunks: int) -> str:
    """The reply text a plan of `chunks` content chunks produces."""
    return "".join(f"w{i} " for i in range(chunks))


def _event(payload: dict[str, object] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


def _chunk(model: str, delta: dict[str, str], finish: str | None) -> dict[str, object]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1755500400,
        "model": model,
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply's body parts, each framed as one HTTP chunk; `first` is the index of the first text."""

    head: bytes
    events: tuple[bytes, ...]
    first: int


def _frame(events: list[bytes]) -> tuple[bytes, ...]:
    return tuple(b"%x\r\n%s\r\n" % (len(event), event) for event in events)


def _json(payload: dict[str, object]) -> str:
    return json.dumps(payload, separators=(",", ":"))


def _openai(model: str, chunks: int) -> Reply:
    events = [_event(_chunk(model, {"content": f"w{i} "}, None)) for i in range(chunks)]
    events.append(_event(_chunk(model, {}, "stop")))
    usage = {"prompt_tokens": 5, "completion_tokens": chunks, "total_tokens": chunks + 5}
    events.append(_event({**_chunk(model, {}, None), "choices": [], "usage": usage}))
    events.append(_event("[DONE]"))
    return Reply(STREAM_HEAD, _frame(events), 0)


def _named(name: str, payload: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: {_json({'type': name, **payload})}\n\n".encode()


def _anthropic(model: str, chunks: int) -> Reply:
    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }
    events = [
        _named("message_start", {"message": message}),
        _named("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    events += [
        _named("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": f"w{i} "}})
        for i in range(chunks)
    ]
    events.append(_named("content_block_stop", {"index": 0}))
    stop = {"stop_reason": "end_turn", "stop_sequence": None}
    events.append(
        _named("message_delta", {"delta": stop, "usage": {"input_tokens": 5, "output_tokens": chunks}})
    )
    events.append(_named("message_stop", {}))
    return Reply(STREAM_HEAD, _frame(events), 2)


def _ollama(model: str, chunks: int) -> Reply:
    def line(content: str, **extra: object) -> bytes:
        body = {
            "model": model,
            "created_at": CREATED_AT,
            "message": {"role": "assistant", "content": content},
        }
        return (_json({**body, **extra}) + "\n").encode()

    events = [line(f"w{i} ", done=False) for i in range(chunks)]
    counts = {"total_duration": 1_000_000, "load_duration": 1000, "prompt_eval_count": 5}
    counts |= {"prompt_eval_duration": 1000, "eval_count": chunks, "eval_duration": 1_000_000}
    events.append(line("", done=True, done_reason="stop", **counts))
    return Reply(NDJSON_HEAD, _frame(events), 0)


BUILDERS = {"openai": _openai, "anthropic": _anthropic, "ollama": _ollama}


@functools.lru_cache(maxsize=64)
def reply(wire: str, model: str, chunks: int) -> Reply:
    return BUILDERS[wire](model, chunks)


def stream_events(model: str, chunks: int) -> tuple[bytes, ...]:
    """The SSE events of one OpenAI-compatible reply, each framed as one HTTP chunk."""
    return reply("openai", model, chunks).events


@functools.lru_cache(maxsize=64)
def bulk_body(wire: str, model: str, chunks: int) -> bytes:
    parts = reply(wire, model, chunks)
    return parts.head + b"".join(parts.events) + b"0\r\n\r\n"


def _plain(status: int, reason: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


def _error(status: int, reason: str, message: str) -> bytes:
    return _plain(status, reason, json.dumps({"error": {"message": message}}).encode())


class VendorProtocol(asyncio.Protocol):
    """One client connection; requests are answered in order, one at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.writing: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.writing is not None:
            self.writing.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.writing is None:
            self._next_request()

    def _next_request(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.transport is None:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
        length = int(headers.get("content-length", "0"))
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        method, path = head[0].split(" ")[:2]
        self._answer(method, path, headers, body)

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        assert self.transport is not None
        wire = next((w for end, w in WIRES.items() if path.endswith(end)), None)
        if method == "GET" and path.endswith("/models"):
            self.transport.write(
                _plain(200, "OK", ANTHROPIC_MODELS if "anthropic-version" in headers else MODELS)
            )
        elif method == "GET" and path.endswith("/api/version"):
            self.transport.write(_plain(200, "OK", OLLAMA_VERSION))
        elif method == "GET" and path.endswith("/api/tags"):
            self.transport.write(_plain(200, "OK", OLLAMA_TAGS))
        elif method == "POST" and wire is not None:
            self._chat(wire, headers, body)
            return
        else:
            self.transport.write(_error(404, "Not Found", f"no route {method} {path}"))
        self._next_request()

    def _chat(self, wire: str, headers: dict[str, str], body: bytes) -> None:
        assert self.transport is not None
        request = json.loads(body or b"{}")
        model = str(request.get("model", ""))
        plan = parse_plan(headers.get("x-bench-plan", "")) or parse_plan(model)
        if plan is None:
            message = f"unknown model {model!r}: use bench-bulk-N or bench-paced-N-Dms"
            self.transport.write(_error(404, "Not Found", message))
        elif request.get("stream") is False or (wire != "ollama" and not request.get("stream")):
            # Ollama streams unless told not to; the others only when told to.
            self.transport.write(_error(400, "Bad Request", "the bench fake only streams"))
        elif not plan.paced:
            self.transport.write(bulk_body(wire, model, plan.chunks))
        else:
            parts = reply(wire, model, plan.chunks)
            self.writing = asyncio.get_running_loop().create_task(self._paced(parts, plan))
            return
        self._next_request()

    async def _paced(self, parts: Reply, plan: Plan) -> None:
        events, first = parts.events, min(parts.first, len(parts.events) - 1)
        try:
            for index, event in enumerate(events):
                if self.transport is None:
                    return
                if index < first:
                    continue
                if index == first:  # what comes before the first text goes with it
                    self.transport.write(parts.head + b"".join(events[: first + 1]))
                    continue
                if index < first + plan.chunks:  # the end follows the last text at once
                    await asyncio.sleep(plan.delay)
                    if self.transport is None:
                        return
                self.transport.write(event)
            self.transport.write(b"0\r\n\r\n")
        finally:
            self.writing = None
        self._next_request()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(VendorProtocol, "127.0.0.1", port, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(port))
    else:
        uvloop.run(serve(port))


if __name__ == "__main__":
    main()
