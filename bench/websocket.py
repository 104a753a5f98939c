"""The WebSocket benchmark: relay CPU per 1,000 chunks over a WebSocket beside SSE, and many
concurrent WebSocket streams with the service's memory per stream.

    make bench                     # or: .venv/bin/python -m bench.websocket [--quick] [--streams N]

One service (`python main.py`) and the fast fake vendor run as processes on 127.0.0.1. CPU is the
service process's (all threads, /proc/<pid>/stat); a reply's marginal cost per chunk is the CPU of
long replies less that of 10-chunk ones, so the per-request work (the session, the rows, the
handshake) cancels out. SSE streams are POST /api/v1/chat; WebSocket streams are `stream_message`
frames on /stream/{session_id}, one socket per stream. Every loop is bounded in count and time.
"""

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import connect

from bench import procs
from bench.client import Connection
from bench.fake_vendor import expected_text, parse_plan
from bench.relay import raise_fd_limit, settled_cpu

HOST = "127.0.0.1"
PROVIDER = "deepseek"  # the OpenAI-compatible provider the fake vendor answers for

Stream = Callable[[procs.Proc, str], Awaitable[str]]


async def sse_stream(service: procs.Proc, model: str) -> str:
    """One SSE turn; the reply text it carried."""
    conn = Connection(HOST, service.port)
    try:
        body = {"provider": PROVIDER, "model": model, "messages": [{"role": "user", "content": "hi"}]}
        result = await conn.request("POST", "/api/v1/chat", body)
    finally:
        await conn.close()
    if result.status != 200 or b'{"done":true}' not in result.body:
        raise RuntimeError(f"SSE stream failed: {result.status} {result.body[-200:]!r}")
    return result.text()


async def new_session(service: procs.Proc, model: str) -> int:
    conn = Connection(HOST, service.port)
    try:
        result = await conn.request(
            "POST", "/api/v1/sessions", {"title": "b", "provider": PROVIDER, "model": model}
        )
    finally:
        await conn.close()
    if result.status != 201:
        raise RuntimeError(f"session not created: {result.status} {result.body[:200]!r}")
    return int(json.loads(result.body)["id"])


async def ws_stream(service: procs.Proc, model: str, started: Callable[[], None] | None = None) -> str:
    """One WebSocket turn on a socket of its own; the reply text its token frames carried."""
    session_id = await new_session(service, model)
    url = f"ws://{HOST}:{service.port}/stream/{session_id}"
    tokens: list[str] = []
    async with connect(url, open_timeout=60, max_size=None, ping_interval=None) as socket:
        await socket.send(json.dumps({"type": "stream_message", "content": "hi"}))
        async for raw in socket:
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "token":
                tokens.append(frame["token"])
            elif kind == "stream_start" and started is not None:
                started()
            elif kind == "error":
                raise RuntimeError(f"WebSocket stream failed: {frame}")
            elif kind == "stream_complete":
                if frame["status"] != "complete":
                    raise RuntimeError(f"WebSocket stream ended {frame['status']}")
                return "".join(tokens)
    raise RuntimeError("WebSocket closed before stream_complete")


@dataclass
class Cpu:
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    requests: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, key: tuple[str, str], seconds: float, requests: int) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.requests[key] = self.requests.get(key, 0) + requests

    def per_request(self, key: tuple[str, str]) -> float:
        return self.seconds[key] / max(self.requests[key], 1)


async def load(service: procs.Proc, stream: Stream, model: str, requests: int, concurrency: int) -> float:
    """Send `requests` streams, `concurrency` at a time; the service's CPU seconds for them."""
    plan = parse_plan(model)
    assert plan is not None
    expected = expected_text(plan.chunks)
    pending = iter(range(requests))
    before = await settled_cpu(service)

    async def worker() -> None:
        for _ in pending:
            async with asyncio.timeout(120):
                text = await stream(service, model)
            if text != expected:
                raise RuntimeError(
                    f"{model}: reply text differs ({len(text)} chars, expected {len(expected)})"
                )

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return await settled_cpu(service) - before


async def relay_cpu(service: procs.Proc, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """CPU per 1,000 chunks, SSE and WebSocket, for bulk (one vendor write) and paced replies."""
    shapes = {
        "bulk": (f"bench-bulk-{args.chunks}", "bench-bulk-10", args.chunks, 1),
        "paced": (f"bench-paced-{args.paced_chunks}-2ms", "bench-paced-10-2ms", args.paced_chunks, 10),
    }
    streams: dict[str, Stream] = {"sse": sse_stream, "websocket": ws_stream}
    cpu = Cpu()
    for _ in range(args.rounds):
        for long_model, short_model, _, concurrency in shapes.values():
            for name, stream in streams.items():
                for model in (short_model, long_model):
                    seconds = await load(service, stream, model, args.requests, concurrency)
                    cpu.add((name, model), seconds, args.requests)
    figures: dict[str, dict[str, float]] = {}
    for shape, (long_model, short_model, chunks, _) in shapes.items():
        figures[shape] = {
            name: (cpu.per_request((name, long_model)) - cpu.per_request((name, short_model)))
            / (chunks - 10)
            * 1000
            for name in streams
        }
    return figures


@dataclass
class Held:
    streams: int
    completed: int = 0
    idle_kb: int = 0
    peak_kb: int = 0
    wall: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def per_stream_kb(self) -> float:
        return (self.peak_kb - self.idle_kb) / max(self.streams, 1)


async def hold(service: procs.Proc, streams: int, model: str, websocket: bool) -> Held:
    """`streams` concurrent slow streams; the service's RSS, sampled until every one has ended."""
    plan = parse_plan(model)
    assert plan is not None
    held = Held(streams, idle_kb=service.memory_kb())
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            held.peak_kb = max(held.peak_kb, service.memory_kb())
            await asyncio.sleep(0.05)

    async def one() -> None:
        try:
            async with asyncio.timeout(plan.chunks * plan.delay + 120):
                text = await (ws_stream(service, model) if websocket else sse_stream(service, model))
        except (OSError, TimeoutError, RuntimeError) as exc:
            held.errors.append(f"{type(exc).__name__}: {exc}")
            return
        if text == expected_text(plan.chunks):
            held.completed += 1
        else:
            held.errors.append("reply text differs")

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    try:
        await asyncio.gather(*(one() for _ in range(streams)))
    finally:
        done.set()
        await sampler
    held.wall = time.perf_counter() - started
    return held


def report(cpu: dict[str, dict[str, float]], held: list[tuple[str, Held]], args: argparse.Namespace) -> str:
    lines = ["", "WebSocket relay beside SSE (service CPU per 1,000 relayed chunks, marginal)", ""]
    lines.append(f"{'reply':<34}{'SSE':>10}{'WebSocket':>12}{'WS / SSE':>10}  target WS <= SSE")
    for shape, figures in cpu.items():
        label = (
            f"bulk {args.chunks} chunks"
            if shape == "bulk"
            else f"paced {args.paced_chunks} chunks, 2 ms, c=10"
        )
        sse, ws = figures["sse"], figures["websocket"]
        verdict = "ok" if ws <= sse else "MISSED"
        lines.append(f"{label:<34}{sse * 1000:>8.1f}ms{ws * 1000:>10.1f}ms{ws / sse:>9.2f}x  {verdict}")
    lines += ["", f"Concurrent streams ({args.hold_model}), service RSS", ""]
    lines.append(
        f"{'streams':<22}{'completed':>10}{'idle MB':>10}{'peak MB':>10}{'KB/stream':>11}{'wall s':>8}"
    )
    for name, h in held:
        lines.append(
            f"{name:<22}{h.completed:>6}/{h.streams:<4}{h.idle_kb / 1024:>9.1f}{h.peak_kb / 1024:>10.1f}"
            f"{h.per_stream_kb:>11.1f}{h.wall:>8.1f}"
        )
        for error in sorted(set(h.errors))[:3]:
            lines.append(f"    error: {error}")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as folder:
        workdir = Path(folder)
        fake = procs.start_fake(workdir)
        service: procs.Proc | None = None
        try:
            await fake.wait_ready("/v1/models")
            service = procs.start_service(workdir, f"http://{HOST}:{fake.port}/v1")
            await service.wait_ready("/health")
            await load(service, ws_stream, "bench-bulk-10", 5, 1)  # warm up both paths
            await load(service, sse_stream, "bench-bulk-10", 5, 1)
            cpu = await relay_cpu(service, args)
            service.stop(10)
            held = []
            # Each hold on a service of its own: memory one frees would be reused by the next.
            for name, websocket in ((f"{args.streams} WebSocket", True), (f"{args.streams} SSE", False)):
                service = procs.start_service(workdir, f"http://{HOST}:{fake.port}/v1")
                await service.wait_ready("/health")
                await load(service, ws_stream if websocket else sse_stream, "bench-bulk-10", 5, 1)
                held.append((name, await hold(service, args.streams, args.hold_model, websocket=websocket)))
                service.stop(10)
        finally:
            if service is not None:
                service.stop(10)
            fake.stop(5)
    return report(cpu, held, args)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="WebSocket relay CPU beside SSE, and concurrent WebSocket streams."
    )
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--chunks", type=int, default=2000, help="chunks of a bulk reply")
    parser.add_argument("--paced-chunks", type=int, default=200, help="chunks of a paced reply")
    # CPU is read in 10 ms ticks: each load must take far more than that.
    parser.add_argument("--requests", type=int, default=40, help="streams per model per round")
    parser.add_argument("--rounds", type=int, default=8, help="alternations of SSE and WebSocket loads")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams held")
    parser.add_argument("--hold-model", default="bench-paced-20-500ms")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.rounds, args.streams, args.hold_model = 3, 1, 50, "bench-paced-10-200ms"
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # A socket each for the client and the service, and the service's vendor connection.
    raise_fd_limit(args.streams * 4 + 256)
    print(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
