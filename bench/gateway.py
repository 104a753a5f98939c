"""The front-door benchmark (issue 19): /v1/chat/completions of the service against LiteLLM's proxy,
both relaying the same fast fake vendor, side by side in one run; prints a table.

    make bench                                  # or: .venv/bin/python -m bench.gateway [--quick]

LiteLLM comes from PyPI into a venv of this bench's own (bench/.venv, made on the first run, not
part of the service's requirements). Its proxy gets one explicit route per fake model: a wildcard
route drops content chunks. The fake's chunks are distinct ("w0 ", "w1 ", ...): LiteLLM aborts a
stream of 100 identical chunks as a loop.

Measured, per target (the fake vendor directly, the service, LiteLLM):
  - time to first token, c=1, a 10-chunk stream: p50 and p99, and what each relay adds to direct;
  - relay CPU per 1,000 paced chunks (50 concurrent streams of 100 chunks, 5 ms apart), from
    /proc/<pid>/stat of the relay's process tree, once its CPU has settled;
  - RSS with 500 concurrent slow streams (100 chunks, 20 ms apart): the peak over idle, per stream.
The service stores every call as a session (STORE_GATEWAY_CALLS=true, its default). Every process
runs on 127.0.0.1 and is stopped on the way out; every phase is bounded in count and time.
"""

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs
from bench.client import Connection, Result
from bench.fake_vendor import expected_text, parse_plan
from bench.relay import percentile, raise_fd_limit

VENV = procs.REPO / "bench" / ".venv"
LITELLM = "litellm[proxy]==1.108.7"
CHAT = "/v1/chat/completions"
# First non-empty content of an OpenAI chunk, however the relay spaces its JSON.
FIRST_CONTENT = re.compile(rb'"content": ?"[^"]')
CONTENT_TEXT = re.compile(rb'"content": ?"([^"]*)"')
TTFT_MODEL = "bench-bulk-10"
PACED_MODEL = "bench-paced-100-5ms"
HOLD_MODEL = "bench-paced-100-20ms"
MODELS = (TTFT_MODEL, PACED_MODEL, HOLD_MODEL)


@dataclass
class Target:
    name: str
    proc: procs.Proc
    prefix: str = ""  # the service names models provider/model

    def payload(self, model: str) -> dict[str, object]:
        messages = [{"role": "user", "content": "hi"}]
        return {"model": self.prefix + model, "messages": messages, "stream": True}


@dataclass
class Figures:
    ttft: dict[str, list[float]] = field(default_factory=dict)
    cpu_per_k: dict[str, float] = field(default_factory=dict)
    hold: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # idle KB, peak KB, completed
    errors: dict[str, list[str]] = field(default_factory=dict)


def ensure_litellm() -> Path:
    """bench/.venv with LiteLLM's proxy, made (pip from PyPI) when it is not there yet."""
    binary = VENV / "bin" / "litellm"
    if binary.exists():
        return binary
    print(f"installing {LITELLM} into {VENV} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, LITELLM], check=True, timeout=1200)
    return binary


def litellm_config(folder: Path, upstream: str) -> Path:
    routes = "".join(
        f"  - model_name: {model}\n"
        f"    litellm_params: {{model: openai/{model}, api_base: {upstream}, api_key: bench}}\n"
        for model in MODELS
    )
    config = folder / "litellm.yaml"
    config.write_text(f"model_list:\n{routes}litellm_settings:\n  telemetry: false\n")
    return config


def start_litellm(binary: Path, folder: Path, upstream: str) -> procs.Proc:
    port = procs.free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    # No fetch of the online price map at start-up (nothing outside 127.0.0.1 is reached).
    # No master key: a bench on 127.0.0.1 needs no auth, as the service has none today.
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_LOG="ERROR",
        NO_DOCS="True",
        LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY="true",
    )
    args = [str(binary), "--config", str(litellm_config(folder, upstream)), "--host", "127.0.0.1"]
    log = folder / "litellm.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [*args, "--port", str(port), "--num_workers", "1"], cwd=folder, env=env, stdout=out, stderr=out
        )
    return procs.Proc("litellm", popen, port, log)


def tree_cpu(proc: procs.Proc) -> float:
    """CPU seconds of the process and its children (LiteLLM's CLI may serve from a child)."""
    total = 0.0
    for pid in descendants(proc.pid):
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / procs.CLOCK_TICKS
    return total


def tree_rss_kb(proc: procs.Proc) -> int:
    total = 0
    for pid in descendants(proc.pid):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            todo.extend(int(child) for child in task.read_text().split())
    return [p for p in found if Path(f"/proc/{p}").exists()]


async def settled(read: Callable[[], float], limit: float = 3.0) -> float:
    deadline, last = time.monotonic() + limit, read()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        if (now := read()) == last:
            return now
        last = now
    return last


def problem(result: Result, chunks: int) -> str | None:
    if result.status != 200:
        return f"status {result.status}: {result.body[:200]!r}"
    text = b"".join(CONTENT_TEXT.findall(result.body)).decode()
    return None if text == expected_text(chunks) else f"text of {len(text)} chars, not the expected"


async def stream(target: Target, model: str, conn: Connection, within: float) -> Result:
    async with asyncio.timeout(within):
        return await conn.request("POST", CHAT, target.payload(model))


async def measure_ttft(target: Target, requests: int, figures: Figures) -> None:
    conn = Connection("127.0.0.1", target.proc.port, first=FIRST_CONTENT)
    plan = parse_plan(TTFT_MODEL)
    assert plan is not None
    try:
        for _ in range(requests):
            result = await stream(target, TTFT_MODEL, conn, 30)
            if (issue := problem(result, plan.chunks)) is not None:
                figures.errors.setdefault(target.name, []).append(issue)
            elif result.ttft is not None:
                figures.ttft.setdefault(target.name, []).append(result.ttft)
    finally:
        await conn.close()


async def measure_cpu(target: Target, streams: int, figures: Figures) -> None:
    plan = parse_plan(PACED_MODEL)
    assert plan is not None
    relayed = 0

    async def one() -> None:
        nonlocal relayed
        conn = Connection("127.0.0.1", target.proc.port, first=FIRST_CONTENT)
        try:
            result = await stream(target, PACED_MODEL, conn, 120)
        except (OSError, TimeoutError, ValueError) as exc:
            figures.errors.setdefault(target.name, []).append(f"{type(exc).__name__}: {exc}")
            return
        finally:
            await conn.close()
        if (issue := problem(result, plan.chunks)) is None:
            relayed += plan.chunks
        else:
            figures.errors.setdefault(target.name, []).append(issue)

    before = await settled(lambda: tree_cpu(target.proc))
    await asyncio.gather(*(one() for _ in range(streams)))
    used = await settled(lambda: tree_cpu(target.proc)) - before
    figures.cpu_per_k[target.name] = used / max(relayed, 1) * 1000


async def measure_hold(target: Target, streams: int, figures: Figures) -> None:
    plan = parse_plan(HOLD_MODEL)
    assert plan is not None
    idle = tree_rss_kb(target.proc)
    peak, completed = idle, 0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(target.proc))
            await asyncio.sleep(0.05)

    async def one() -> None:
        nonlocal completed
        conn = Connection("127.0.0.1", target.proc.port, first=FIRST_CONTENT)
        try:
            result = await stream(target, HOLD_MODEL, conn, 180)
            completed += problem(result, plan.chunks) is None
        except (OSError, TimeoutError, ValueError) as exc:
            figures.errors.setdefault(target.name, []).append(f"{type(exc).__name__}: {exc}")
        finally:
            await conn.close()

    sampler = asyncio.create_task(sample())
    try:
        await asyncio.gather(*(one() for _ in range(streams)))
    finally:
        done.set()
        await sampler
    figures.hold[target.name] = (idle, peak, completed)


async def with_targets(work: Callable[[list[Target]], Awaitable[None]]) -> None:
    binary = ensure_litellm()
    folder = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    fake = procs.start_fake(folder)
    started = [fake]
    try:
        await fake.wait_ready("/v1/models")
        upstream = f"http://127.0.0.1:{fake.port}/v1"
        service = procs.start_service(folder, upstream)
        started.append(service)
        litellm = start_litellm(binary, folder, upstream)
        started.append(litellm)
        await service.wait_ready("/health")
        await litellm.wait_ready("/health/liveliness", within=120)
        await work(
            [Target("direct", fake), Target("service", service, "deepseek/"), Target("litellm", litellm)]
        )
    finally:
        for proc in reversed(started):
            proc.stop(10)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def print_table(figures: Figures, args: argparse.Namespace) -> None:
    names = ("direct", "service", "litellm")
    p50 = {n: percentile(figures.ttft.get(n, []), 0.5) for n in names}
    p99 = {n: percentile(figures.ttft.get(n, []), 0.99) for n in names}
    added = {n: (p50[n] - p50["direct"], p99[n] - p99["direct"]) for n in names}
    kb = {n: (peak - idle) / args.hold for n, (idle, peak, _) in figures.hold.items()}
    rows = [
        ("TTFT p50, c=1 (ms)", *(ms(p50[n]) for n in names), ""),
        ("TTFT p99, c=1 (ms)", *(ms(p99[n]) for n in names), ""),
        ("added TTFT p50 (ms)", "", ms(added["service"][0]), ms(added["litellm"][0]), "service < 2 ms"),
        ("added TTFT p99 (ms)", "", ms(added["service"][1]), ms(added["litellm"][1]), ""),
        (
            "relay CPU per 1,000 paced chunks (ms)",
            *(f"{figures.cpu_per_k.get(n, float('nan')) * 1000:.1f}" for n in names),
            "service <= litellm / 10",
        ),
        (
            f"RSS added per stream, {args.hold} streams (KB)",
            *(f"{kb.get(n, float('nan')):.1f}" for n in names),
            "service <= litellm / 10",
        ),
        (
            f"streams completed of {args.hold}",
            *(str(figures.hold.get(n, (0, 0, 0))[2]) for n in names),
            "",
        ),
    ]
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    header = ("measure", *names, "target")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    print(
        f"\nfront door vs LiteLLM {LITELLM.partition('==')[2]} at {procs.revision()}, {os.cpu_count()} cores"
    )
    for row in (header, *rows):
        print(" | ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))
    cpu_ratio = figures.cpu_per_k.get("service", 0) / max(figures.cpu_per_k.get("litellm", 0), 1e-9)
    mem_ratio = kb.get("service", 0) / max(kb.get("litellm", 0), 1e-9)
    print(f"service / litellm: CPU {cpu_ratio:.3f}x, memory per stream {mem_ratio:.3f}x")
    for name, errors in figures.errors.items():
        print(f"{name}: {len(errors)} errors, first: {errors[0]}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests and streams")
    parser.add_argument("--ttft-requests", type=int, default=300)
    parser.add_argument("--cpu-streams", type=int, default=50)
    parser.add_argument("--hold", type=int, default=500, help="concurrent streams for the memory figure")
    args = parser.parse_args(argv)
    if args.quick:
        args.ttft_requests, args.cpu_streams, args.hold = 60, 20, 100
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    raise_fd_limit(args.hold * 4 + 256)
    figures = Figures()

    async def work(targets: list[Target]) -> None:
        async with asyncio.timeout(1800):
            for target in targets:  # warm-up: connections, caches, first imports
                await measure_ttft(target, 10, Figures())
            for _ in range(3):  # interleaved rounds, so no target has the quieter machine
                for target in targets:
                    await measure_ttft(target, args.ttft_requests // 3, figures)
            for target in targets:
                await measure_cpu(target, args.cpu_streams, figures)
            for target in targets[1:]:
                await measure_hold(target, args.hold, figures)

    asyncio.run(with_targets(work))
    print_table(figures, args)


if __name__ == "__main__":
    main()
