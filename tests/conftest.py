import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from httpx_sse import aconnect_sse

from app_factory import create_app
from config import Settings
from provider_registry import PROVIDERS
from tests.accounts import SECRETS
from tests.fakes.anthropic_vendor import FakeAnthropicVendor
from tests.fakes.ollama_vendor import FakeOllamaVendor
from tests.fakes.openai_vendor import FakeOpenAIVendor
from tests.fakes.server import ServerThread
from tests.families import MODELS, Family
from tests.postgres_server import create_database, postgres_server, server_program
from tests.service_process import ServiceProcess, free_port

SettingsFactory = Callable[..., Settings]


class _Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True, scope="session")
def no_secret_in_logs() -> Iterator[None]:
    """Every log line of the run at INFO and above; at its end, none holds a password, token or key."""
    recorded, root = _Recorded(), logging.getLogger()
    level = root.level
    root.addHandler(recorded)
    root.setLevel(logging.INFO)
    yield
    root.removeHandler(recorded)
    root.setLevel(level)
    leaked = {value for value in SECRETS for line in recorded.lines if value in line}
    assert not leaked, f"{len(leaked)} secrets were logged (of {len(SECRETS)} the tests used)"


@pytest.fixture
def vendor() -> Iterator[FakeOpenAIVendor]:
    fake = FakeOpenAIVendor()
    with ServerThread(fake.app) as server:
        fake.url = f"{server.url}/v1"  # type: ignore[attr-defined]
        fake.server = server  # type: ignore[attr-defined]
        yield fake
        server.server.force_exit = True  # the test is over: do not wait for scripted stalls to end


@pytest.fixture
def ollama() -> Iterator[FakeOllamaVendor]:
    fake = FakeOllamaVendor()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake
        server.server.force_exit = True  # the test is over: do not wait for scripted stalls to end


@pytest.fixture
def claude() -> Iterator[FakeAnthropicVendor]:
    fake = FakeAnthropicVendor()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake
        server.server.force_exit = True  # the test is over: do not wait for scripted stalls to end


@pytest.fixture
def family(request: pytest.FixtureRequest, vendor: FakeOpenAIVendor) -> Family:
    """The provider a lifecycle test runs over (tests.families.over_families); DeepSeek by default."""
    provider = getattr(request, "param", "deepseek")
    if provider == "ollama":
        fake: FakeOllamaVendor = request.getfixturevalue("ollama")
        return Family(provider, fake, {"ollama_base_url": fake.url})
    if provider == "anthropic":
        anthropic: FakeAnthropicVendor = request.getfixturevalue("claude")
        return Family(provider, anthropic, {"anthropic_base_url": anthropic.url})
    return Family(provider, vendor)


@pytest.fixture
def make_settings(tmp_path: Path, vendor: FakeOpenAIVendor, family: Family) -> SettingsFactory:
    """Settings with a temp database and every vendor pointed at a fake (the family's, for its own).

    Ollama answers only when the test runs over it: elsewhere its base URL is the OpenAI fake's,
    where `/api/version` is a 404. No system prompt file exists.
    """

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'chat.db'}",
            "provider_max_retries": 0,
            "extra_providers": {},
            "system_prompt_file": tmp_path / "system_prompt.txt",
        }
        for cls in PROVIDERS.values():
            if cls.key_setting:
                values[cls.key_setting] = "test-key"
            if cls.base_url_setting:
                values[cls.base_url_setting] = vendor.url  # type: ignore[attr-defined]
        values.update(family.settings)
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


def stored_row(database_file: Path, message_id: int) -> tuple[str, str]:
    """A message's content and status as the database file holds them (what a crash would leave)."""
    with contextlib.closing(sqlite3.connect(database_file)) as db:
        row = db.execute("SELECT content, status FROM chat_messages WHERE id = ?", (message_id,)).fetchone()
    return row[0], row[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """The URL of a real PostgreSQL server started for the module (tests/postgres_server.py)."""
    if server_program("initdb") is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (scripts/install-postgres.sh installs it)")
        pytest.skip("PostgreSQL is not installed; run scripts/install-postgres.sh")
    with postgres_server() as url:
        yield url


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """The URL of a real redis-server started for the test, on a free port of 127.0.0.1."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (scripts/install-redis.sh installs it)")
        pytest.skip("redis-server is not installed; run scripts/install-redis.sh")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
async def client(settings: Settings, vendor: FakeOpenAIVendor) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the service, served for real on 127.0.0.1."""
    with ServerThread(create_app(settings), lifespan="on") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield http
        # Each uvicorn takes ~0.2 s to stop; stopping the fake vendor alongside the service (and
        # without waiting for its scripted stalls) roughly halves every test's teardown.
        vendor_server = vendor.server.server  # type: ignore[attr-defined]
        vendor_server.should_exit = vendor_server.force_exit = True


ServeApp = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve() -> ServeApp:
    """Serve an app built from other settings than the `client` fixture's, for one `async with` block."""

    @asynccontextmanager
    async def run(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
        with ServerThread(create_app(settings), lifespan="on") as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                yield http

    return run


@dataclass
class ChatReply:
    """What POST /chat answered: the status, headers, and either its SSE events or its JSON body."""

    status: int
    headers: httpx.Headers
    events: list[dict[str, Any]] = field(default_factory=list)
    json: Any = None

    @property
    def text(self) -> str:
        return "".join(e["content"] for e in self.events if "content" in e)

    @property
    def reasoning(self) -> str:
        return "".join(e["reasoning"] for e in self.events if "reasoning" in e)


ChatCall = Callable[..., Awaitable[ChatReply]]


async def post_chat(http: httpx.AsyncClient, body: dict[str, Any], *, within: float = 10) -> ChatReply:
    """POST /chat; read the SSE events when it streams, else the JSON body. Bounded by `within` s."""
    async with asyncio.timeout(within):
        async with aconnect_sse(http, "POST", "/api/v1/chat", json=body) as source:
            response = source.response
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                await response.aread()
                return ChatReply(response.status_code, response.headers, json=response.json())
            events = [json.loads(event.data) async for event in source.aiter_sse()]
            return ChatReply(response.status_code, response.headers, events=events)


async def vendor_failure(http: httpx.AsyncClient, body: dict[str, Any], status: int) -> tuple[str, Any]:
    """POST a turn that the vendor fails before any output; return the error's text and the JSON body.

    Unstreamed, the failure is the HTTP `status` (the JSON body is returned). Streamed, it must be a
    200 whose events are the session id, the message id, the error and `done`: the turn is stored,
    and a client learns the session it now has (the JSON body is then None).
    """
    reply = await post_chat(http, body)
    if body.get("stream", True) is False:
        assert reply.status == status, reply.json
        return reply.json["detail"], reply.json
    assert reply.status == 200
    session, message, error, done = reply.events
    assert (set(session), set(message), set(error), done) == (
        {"session_id"},
        {"message_id"},
        {"error"},
        {"done": True},
    )
    return error["error"], None


@pytest.fixture
def chat() -> ChatCall:
    """`await chat(http, body)` posts a chat turn and collects the answer (see `post_chat`)."""
    return post_chat


def chat_body(provider: str = "deepseek", content: str = "hi", **fields: Any) -> dict[str, Any]:
    """A chat request as the web frontend sends it: one new user message plus flat settings."""
    return {
        "provider": provider,
        "model": MODELS[provider],
        "messages": [{"role": "user", "content": content}],
        **fields,
    }


@pytest.fixture
def workers(
    tmp_path: Path, vendor: FakeOpenAIVendor, redis_url: str, request: pytest.FixtureRequest
) -> Iterator[tuple[ServiceProcess, ...]]:
    """Two `python main.py` workers on one SQLite file and one Redis; the second is started by the test."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "REDIS_URL": redis_url,
        "DEEPSEEK_API_KEY": "test-key",
        "DEEPSEEK_BASE_URL": vendor.url,  # type: ignore[attr-defined]
        "PROVIDER_MAX_RETRIES": "0",
        "STREAM_FLUSH_INTERVAL": "0.2",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        **getattr(request, "param", {}),
    }
    first = ServiceProcess(tmp_path / "a.log", **env).start()
    second = ServiceProcess(tmp_path / "b.log", **env)
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


_database_names = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgresql"])
def each_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new empty database of each kind the service runs on: the test runs once on each."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    return create_database(request.getfixturevalue("postgres"), f"service_{next(_database_names)}")


@pytest.fixture
async def served_on_each_database(
    serve: ServeApp, make_settings: SettingsFactory, each_database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(database_url=each_database_url)) as client:
        yield client
