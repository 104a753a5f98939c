"""Run the service as a real `python main.py` process, for end-to-end, crash, signal and worker tests."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from config import Settings

ROOT = Path(__file__).resolve().parent.parent
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**values: str) -> dict[str, str]:
    """`values` over the parent environment stripped of what the service reads (keys, settings, proxies)."""
    settings_names = {name.upper() for name in Settings.model_fields}
    env = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in settings_names
        and not key.upper().endswith(("_API_KEY", "_BASE_URL"))
        and key.lower() not in PROXY_VARIABLES
    }
    env.update(values)
    return env


class ServiceProcess:
    def __init__(self, log_path: Path, **env: str) -> None:
        self.port = free_port()
        # Ollama where no server is, and no system prompt file, unless a test gives them.
        unused = {
            "OLLAMA_BASE_URL": "http://127.0.0.1:9",
            "SYSTEM_PROMPT_FILE": str(log_path.parent / "no-prompt"),
        }
        self.env = clean_env(BACKEND_HOST="127.0.0.1", BACKEND_PORT=str(self.port), **{**unused, **env})
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> "ServiceProcess":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "main.py"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"service exited with {self.process.returncode}:\n{self.log_path.read_text()}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=1, trust_env=False).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"service not healthy within {timeout} s:\n{self.log_path.read_text()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if the process has not exited within 15 s; its exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=5)

    def __enter__(self) -> "ServiceProcess":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
