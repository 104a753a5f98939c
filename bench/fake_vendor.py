"""A fast fake OpenAI-compatible vendor for the relay benchmark: raw asyncio, HTTP/1.1 keep-alive.

`python -m bench.fake_vendor --port N` serves `POST /v1/chat/completions` and `GET /v1/models` on
127.0.0.1. The stream's shape comes from the model name (or an `X-Bench-Plan` header, which wins):

    bench-bulk-2000        2,000 content chunks, the whole body in one write
    bench-paced-100-5ms    100 content chunks, one per write, 5 ms apart (like a real model)

Each stream is: N content chunks ("w0 ", "w1 ", ... so the text never repeats and the service's
loop detection stays quiet), a finish chunk, a usage chunk, `data: [DONE]`. Bodies are built once
per plan and cached, so the fake spends its time on sockets, not on JSON.
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
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
)
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


@functools.lru_cache(maxsize=64)
def stream_events(model: str, chunks: int) -> tuple[bytes, ...]:
    """The SSE events of one reply, each framed as one HTTP chunk."""
    events = [_event(_chunk(model, {"content": f"w{i} "}, None)) for i in range(chunks)]
    events.append(_event(_chunk(model, {}, "stop")))
    usage = {"prompt_tokens": 5, "completion_tokens": chunks, "total_tokens": chunks + 5}
    events.append(_event({**_chunk(model, {}, None), "choices": [], "usage": usage}))
    events.append(_event("[DONE]"))
    return tuple(b"%x\r\n%s\r\n" % (len(event), event) for event in events)


@functools.lru_cache(maxsize=64)
def bulk_body(model: str, chunks: int) -> bytes:
    return STREAM_HEAD + b"".join(stream_events(model, chunks)) + b"0\r\n\r\n"


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
        if method == "GET" and path.endswith("/models"):
            self.transport.write(_plain(200, "OK", MODELS))
        elif method == "POST" and path.endswith("/chat/completions"):
            self._chat(headers, body)
            return
        else:
            self.transport.write(_error(404, "Not Found", f"no route {method} {path}"))
        self._next_request()

    def _chat(self, headers: dict[str, str], body: bytes) -> None:
        assert self.transport is not None
        request = json.loads(body or b"{}")
        model = str(request.get("model", ""))
        plan = parse_plan(headers.get("x-bench-plan", "")) or parse_plan(model)
        if plan is None:
            message = f"unknown model {model!r}: use bench-bulk-N or bench-paced-N-Dms"
            self.transport.write(_error(404, "Not Found", message))
        elif not request.get("stream"):
            self.transport.write(_error(400, "Bad Request", "the bench fake only streams"))
        elif not plan.paced:
            self.transport.write(bulk_body(model, plan.chunks))
        else:
            self.writing = asyncio.get_running_loop().create_task(self._paced(model, plan))
            return
        self._next_request()

    async def _paced(self, model: str, plan: Plan) -> None:
        events = stream_events(model, plan.chunks)
        try:
            for index, event in enumerate(events):
                if self.transport is None:
                    return
                if index == 0:
                    self.transport.write(STREAM_HEAD + event)
                    continue
                if index < plan.chunks:  # finish, usage and [DONE] follow the last token at once
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
