"""The processes under test: started on free 127.0.0.1 ports, read through /proc, always stopped."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.client import Connection

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def revision(repo: Path = REPO) -> str:
    """The checkout's commit, marked when the working tree differs from it."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty=+uncommitted changes"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown revision"
    return described.stdout.strip() or "unknown revision"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu(self) -> float:
        """User + system CPU seconds of the whole process (all its threads) so far."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def memory_kb(self, key: str = "VmRSS") -> int:
        """A /proc/<pid>/status figure in KB: VmRSS now, or VmHWM (the peak so far)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait_ready(self, path: str, within: float = 30) -> None:
        """Poll `GET path` until it answers below 500, the process dies, or `within` s pass."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                break
            conn = Connection("127.0.0.1", self.port)
            try:
                async with asyncio.timeout(2):
                    result = await conn.request("GET", path)
                if result.status < 500:
                    return
            except (OSError, TimeoutError, ValueError):
                pass
            finally:
                await conn.close()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start (log {self.log}):\n{self.log_tail()}")

    def stop(self, grace: float) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def start(name: str, args: list[str], *, logs: Path, env: dict[str, str], cwd: Path, port: int) -> Proc:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Proc(name, popen, port, log)


def start_fake(logs: Path) -> Proc:
    port = free_port()
    return start(
        "fake_vendor",
        ["-m", "bench.fake_vendor", "--port", str(port)],
        logs=logs,
        env=dict(os.environ),
        cwd=REPO,
        port=port,
    )


def start_bare(logs: Path, upstream: str, transport: str) -> Proc:
    port = free_port()
    args = ["-m", "bench.bare_relay", "--port", str(port), "--upstream", upstream, "--transport", transport]
    return start(f"bare_relay_{transport}", args, logs=logs, env=dict(os.environ), cwd=REPO, port=port)


def service_env(workdir: Path, port: int, upstream: str) -> dict[str, str]:
    """The service's environment: a temp database, generous watchdogs, and DeepSeek (at `upstream`),
    Anthropic and Ollama (at its host root, where their base URLs point) pointed at the fake.

    Other vendor keys and REDIS_URL are dropped so the run measures one in-process service; the
    working directory is a temp folder, so no `.env` of the checkout leaks in.
    """
    env = {
        k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "REDIS_URL"
    }
    root = upstream.removesuffix("/").removesuffix("/v1")
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
        BACKEND_HOST="127.0.0.1",
        BACKEND_PORT=str(port),
        DEEPSEEK_API_KEY="x",
        DEEPSEEK_BASE_URL=upstream,
        ANTHROPIC_API_KEY="x",
        ANTHROPIC_BASE_URL=root,
        OLLAMA_BASE_URL=root,
        PROVIDER_MAX_RETRIES="0",
        PROVIDER_TIMEOUT="120",
        FIRST_TOKEN_TIMEOUT="300",
        STREAM_IDLE_TIMEOUT="300",
        MAX_GENERATION_SECONDS="900",
        SHUTDOWN_GRACE_SECONDS="2",
        MODEL_CACHE_TTL="0",
    )
    return env


def start_service(
    workdir: Path, upstream: str, *, repo: Path = REPO, name: str = "service", logs: Path | None = None
) -> Proc:
    """`python <repo>/main.py` (this checkout's, or a baseline's), its cwd and database in `workdir`."""
    port = free_port()
    env = service_env(workdir, port, upstream)
    return start(name, [str(repo / "main.py")], logs=logs or workdir, env=env, cwd=workdir, port=port)


def git(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


@contextmanager
def temporary_worktree(rev: str) -> Iterator[Path]:
    """A detached `git worktree` of this repository at `rev` in a temp folder, removed on the way out."""
    resolved = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if resolved.returncode != 0:
        raise SystemExit(f"--revision {rev}: not a commit of {REPO}")
    folder = Path(tempfile.mkdtemp(prefix="relay-bench-baseline-"))
    tree = folder / "checkout"
    try:
        added = git("worktree", "add", "--detach", str(tree), resolved.stdout.strip())
        if added.returncode != 0:
            raise SystemExit(f"git worktree add {rev} failed: {added.stderr.strip()}")
        yield tree
    finally:
        try:
            removed = git("worktree", "remove", "--force", str(tree), timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            removed = False
        shutil.rmtree(folder, ignore_errors=True)
        if not removed:  # the folder is gone now: prune drops git's record of it
            git("worktree", "prune", timeout=60)
