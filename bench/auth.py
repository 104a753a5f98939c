"""What AUTH_MODE=required adds to a request: the credential check and the owner-scoped query.

The same owner-scoped read (GET /api/v1/sessions/{id}, a session of two messages) is sent to two
apps in this process, one with AUTH_MODE=off and one with AUTH_MODE=required (an access JWT, and
a personal `lk-` API key), through httpx's in-process ASGI transport: no sockets, so the figure is
the service's own CPU. A chat turn runs the same dependency once, so its added cost is the same.
Batches of the modes alternate, and the median batch is kept.

    .venv/bin/python -m bench.auth        # part of `make bench`
"""

import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

import database
from app_factory import create_app
from config import Settings

BATCHES = 30
PER_BATCH = 200
WARM_UP = 300
TARGET_MS = 0.3
SECRET = "bench-signing-secret-0123456789abcdef"


def settings(folder: Path, mode: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{folder / f'{mode}.db'}",
        upload_dir=folder / "uploads",
        system_prompt_file=folder / "none.txt",
        ollama_base_url="http://127.0.0.1:9",
        extra_providers={},
        auth_mode=mode,
        secret_key=SECRET,
    )


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            yield http


async def a_session(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """A session of the caller's with two messages; the path that reads it."""
    made = await http.post(
        "/api/v1/sessions", json={"title": "t", "provider": "deepseek", "model": "m"}, headers=headers
    )
    session_id = made.json()["id"]
    app_db: database.Database = http._transport.app.state.database  # type: ignore[attr-defined]
    rows = [{"role": role, "content": "x" * 200} for role in ("user", "assistant")]
    await app_db.run_core(lambda db: database.add_messages(db, session_id, rows))
    return f"/api/v1/sessions/{session_id}"


async def credentials(http: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    signed = await http.post(
        "/auth/signup", json={"email": "bench@example.com", "password": "bench password"}
    )
    jwt_headers = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    key = (await http.post("/auth/api-keys", json={"name": "bench"}, headers=jwt_headers)).json()["key"]
    return {"required, access JWT": jwt_headers, "required, lk- API key": {"Authorization": f"Bearer {key}"}}


async def batch_cost(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> float:
    """CPU seconds per request over one batch."""
    started = time.process_time()
    for _ in range(PER_BATCH):
        answer = await http.get(path, headers=headers)
        assert answer.status_code == 200, answer.text
    return (time.process_time() - started) / PER_BATCH


async def measure() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="auth-bench-") as folder:
        root = Path(folder)
        async with (
            running(create_app(settings(root, "off"))) as off,
            running(create_app(settings(root, "required"))) as required,
        ):
            cases = {"off": (off, await a_session(off, {}), {})}
            for name, headers in (await credentials(required)).items():
                cases[name] = (required, await a_session(required, headers), headers)
            for http, path, headers in cases.values():
                for _ in range(WARM_UP):
                    await http.get(path, headers=headers)
            costs: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(BATCHES):
                for name, (http, path, headers) in cases.items():
                    costs[name].append(await batch_cost(http, path, headers))
    return {name: statistics.median(values) for name, values in costs.items()}


def main() -> None:
    figures = asyncio.run(measure())
    off = figures["off"]
    print(f"\nAUTH_MODE per request, in process (median of {BATCHES} batches of {PER_BATCH} session reads)")
    header = ["mode", "CPU per request", "added to off", f"target < {TARGET_MS} ms"]
    rows = [header]
    for name, cost in figures.items():
        added = (cost - off) * 1000
        verdict = "" if name == "off" else ("met" if added < TARGET_MS else "NOT met")
        rows.append([name, f"{cost * 1000:.3f} ms", "" if name == "off" else f"{added:+.3f} ms", verdict])
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    for row in rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
