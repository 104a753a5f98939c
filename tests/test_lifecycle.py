"""Resume, stop, continue, disconnect policy, flushing and watchdogs, through real HTTP.

The tests marked `over_families` run over an OpenAI-compatible vendor and over Ollama's NDJSON.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from httpx_sse import aconnect_sse

import database
from app_factory import create_app
from generation.manager import GenerationManager
from generation.running import Generation
from generation.turn import Started, _store_and_launch, start_continue, start_turn
from generation.watchdogs import STOPPED
from models import ChatRequest
from tests.conftest import SettingsFactory, stored_row, vendor_failure
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream
from tests.fakes.server import ServerThread
from tests.families import Family, over_families
from tests.sse import CHAT, start_and_read


def ask(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "provider": "deepseek",
        "model": "deepseek-chat",
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


async def read_events(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> list[dict[str, Any]]:
    async with asyncio.timeout(10), aconnect_sse(client, method, url, **kwargs) as source:
        return [json.loads(event.data) async for event in source.aiter_sse()]


async def message(client: httpx.AsyncClient, session_id: int, message_id: int) -> dict[str, Any]:
    detail = (await client.get(f"/api/v1/sessions/{session_id}")).json()
    return next(m for m in detail["messages"] if m["id"] == message_id)


async def wait_for_status(
    client: httpx.AsyncClient, session_id: int, message_id: int, *statuses: str
) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while (row := await message(client, session_id, message_id))["status"] not in statuses:
            await asyncio.sleep(0.05)
    return row


@pytest.fixture
async def service(
    make_settings: SettingsFactory, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    overrides = getattr(request, "param", {})
    with ServerThread(create_app(make_settings(**overrides)), lifespan="on") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield http


def paced(count: int, delay: float = 0.05, *, finish: str = "stop") -> Reply:
    return Reply(text_stream(*(f"w{i} " for i in range(count)), finish=finish), delay=delay)


@over_families
async def test_resume_replays_after_the_last_event_id_then_follows_live(
    service: httpx.AsyncClient, family: Family
) -> None:
    family.paced(30, 0.03)
    first = await start_and_read(service, family.ask(), 5)
    session_id, message_id = first[0]["session_id"], first[1]["message_id"]
    rest = await read_events(service, "GET", f"{CHAT}/{message_id}/stream", headers={"Last-Event-ID": "5"})
    text = "".join(e.get("content", "") for e in first + rest)
    assert text == "".join(f"w{i} " for i in range(30))
    assert rest[-1] == {"done": True}
    assert "session_id" not in rest[0]
    stored = await wait_for_status(service, session_id, message_id, "complete")
    assert stored["content"] == text


async def test_resume_stream_carries_standard_ids(
    service: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(paced(3, 0.01))
    first = await start_and_read(service, ask(), 2)
    message_id = first[1]["message_id"]
    async with (
        asyncio.timeout(10),
        aconnect_sse(service, "GET", f"{CHAT}/{message_id}/stream?last_event_id=2") as src,
    ):
        ids = [event.id async for event in src.aiter_sse()]
    assert ids[0] == "3"
    assert ids == [str(n) for n in range(3, 3 + len(ids))]


async def test_resume_after_the_end_replays_the_stored_reply(
    service: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply([sse(chunk(reasoning_content="think")), *text_stream("Hello", " there")]))
    events = await read_events(service, "POST", CHAT, json=ask())
    message_id = events[1]["message_id"]
    await asyncio.sleep(0.1)
    replay = await read_events(service, "GET", f"{CHAT}/{message_id}/stream")
    assert {"reasoning": "think"} in replay
    assert "".join(e.get("content", "") for e in replay) == "Hello there"
    assert any("usage" in e for e in replay)
    assert replay[-1] == {"done": True}


async def test_replies_one_after_another_reuse_one_vendor_connection(
    service: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    # A stream read only up to `[DONE]` cannot go back to the pool: each chat would pay a new
    # connection (and TLS handshake) to the vendor.
    for text in ("one", "two", "three"):
        vendor.queue(Reply(text_stream(text)))
        events = await read_events(service, "POST", CHAT, json=ask())
        assert events[-1] == {"done": True}
    peers = {received.peer for received in vendor.requests}
    assert len(vendor.requests) == 3
    assert len(peers) == 1, peers


async def test_resume_of_an_unknown_message_is_404(service: httpx.AsyncClient) -> None:
    response = await service.get(f"{CHAT}/999/stream")
    assert response.status_code == 404
    assert "999" in response.json()["detail"]


# A number no row or event can have is refused where it arrives, before any database or Redis call.
TOO_LARGE = 2**63


@pytest.mark.parametrize(
    ("method", "path", "body", "loc"),
    [
        ("GET", f"{CHAT}/{TOO_LARGE}/stream", None, ["path", "message_id"]),
        ("GET", f"{CHAT}/0/stream", None, ["path", "message_id"]),
        ("GET", f"{CHAT}/1/stream?last_event_id={TOO_LARGE}", None, ["query", "last_event_id"]),
        ("POST", f"{CHAT}/{TOO_LARGE}/stop", None, ["path", "message_id"]),
        ("POST", f"{CHAT}/{TOO_LARGE}/continue", None, ["path", "message_id"]),
        ("POST", CHAT, ask(session_id=TOO_LARGE), ["body", "session_id"]),
    ],
)
async def test_an_id_beyond_any_row_is_a_422_naming_it(
    service: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, loc: list[str]
) -> None:
    response = await service.request(method, path, json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


async def test_a_last_event_id_header_beyond_any_event_is_a_422(service: httpx.AsyncClient) -> None:
    response = await service.get(f"{CHAT}/1/stream", headers={"Last-Event-ID": str(2**64)})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Last-Event-ID"]


async def test_streams_that_end_or_are_left_log_no_errors(
    service: httpx.AsyncClient, vendor: FakeOpenAIVendor, caplog: pytest.LogCaptureFixture
) -> None:
    # The server's own ends of a response (the writing done, the client gone) race each other.
    for _ in range(3):
        vendor.queue(paced(3, 0.01))
        events = await read_events(service, "POST", CHAT, json=ask())
        assert events[-1] == {"done": True}
    vendor.queue(paced(20, 0.02))
    first = await start_and_read(service, ask(), 3)
    await wait_for_status(service, first[0]["session_id"], first[1]["message_id"], "complete")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@over_families
async def test_a_resumable_client_that_disconnects_does_not_stop_the_generation(
    service: httpx.AsyncClient, family: Family
) -> None:
    family.paced(20, 0.02)
    first = await start_and_read(service, family.ask(), 3)
    row = await wait_for_status(service, first[0]["session_id"], first[1]["message_id"], "complete")
    assert row["content"] == "".join(f"w{i} " for i in range(20))
    assert family.vendor.completed == 1


@over_families
@pytest.mark.parametrize("service", [{"disconnect_policy": "stop"}], indirect=True)
async def test_disconnect_policy_stop_ends_the_generation_on_disconnect(
    service: httpx.AsyncClient, family: Family
) -> None:
    family.paced(200, 0.02)
    first = await start_and_read(service, family.ask(), 4)
    row = await wait_for_status(service, first[0]["session_id"], first[1]["message_id"], "stopped")
    assert row["content"].startswith("w0 ")
    assert row["finish_reason"] == "stopped by user"
    async with asyncio.timeout(5):
        while family.vendor.disconnects == 0:
            await asyncio.sleep(0.02)


@over_families
async def test_stop_closes_the_upstream_connection_and_keeps_the_partial_text(
    service: httpx.AsyncClient, family: Family
) -> None:
    vendor = family.vendor
    family.paced(500, 0.02)
    first = await start_and_read(service, family.ask(), 6)
    session_id, message_id = first[0]["session_id"], first[1]["message_id"]
    response = await service.post(f"{CHAT}/{message_id}/stop")
    assert response.status_code == 200
    stopped = response.json()
    assert stopped["status"] == "stopped"
    assert stopped["content"].startswith("w0 w1 w2 w3 ")
    assert len(stopped["content"]) < len("".join(f"w{i} " for i in range(500)))
    async with asyncio.timeout(5):
        while vendor.disconnects == 0:
            await asyncio.sleep(0.02)
    assert (await message(service, session_id, message_id))["status"] == "stopped"


async def test_stopping_a_message_that_is_not_generating_is_409_with_its_status(
    service: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    events = await read_events(service, "POST", CHAT, json=ask())
    response = await service.post(f"{CHAT}/{events[1]['message_id']}/stop")
    assert response.status_code == 409
    assert response.json()["status"] == "complete"
    assert "not generating" in response.json()["detail"]
    assert (await service.post(f"{CHAT}/424242/stop")).status_code == 404


@over_families
async def test_continue_appends_to_a_stopped_reply(service: httpx.AsyncClient, family: Family) -> None:
    family.paced(500, 0.02)
    first = await start_and_read(service, family.ask("tell a story", system_prompt="Be brief."), 5)
    session_id, message_id = first[0]["session_id"], first[1]["message_id"]
    partial = (await service.post(f"{CHAT}/{message_id}/stop")).json()["content"]
    family.text("and the", " end.")
    events = await read_events(service, "POST", f"{CHAT}/{message_id}/continue")
    assert events[1] == {"message_id": message_id}
    assert "".join(e.get("content", "") for e in events) == "and the end."
    row = await message(service, session_id, message_id)
    assert row["content"] == partial + "and the end."
    assert row["status"] == "complete"
    sent = family.last_context()
    assert sent[:-1] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "tell a story"},
        {"role": "assistant", "content": partial},
    ]
    assert sent[-1]["role"] == "user"
    detail = (await service.get(f"/api/v1/sessions/{session_id}")).json()
    assert len(detail["messages"]) == 2


async def test_continue_of_a_complete_reply_is_409(
    service: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    events = await read_events(service, "POST", CHAT, json=ask())
    response = await service.post(f"{CHAT}/{events[1]['message_id']}/continue")
    assert response.status_code == 409
    assert "complete" in response.json()["detail"]


@over_families
async def test_continue_of_a_length_cut_reply_is_allowed(service: httpx.AsyncClient, family: Family) -> None:
    family.text("cut", finish="length")
    family.text(" off")
    events = await read_events(service, "POST", CHAT, json=family.ask())
    message_id = events[1]["message_id"]
    response = await service.post(f"{CHAT}/{message_id}/continue", json={"stream": False})
    assert response.status_code == 200
    assert response.json()["message"]["content"] == "cut off"


@over_families
@pytest.mark.parametrize("service", [{"stream_flush_interval": 0.1}], indirect=True)
async def test_text_is_flushed_to_the_database_while_streaming(
    service: httpx.AsyncClient, family: Family, tmp_path: Path
) -> None:
    family.unfinished("early text", stall=3)
    first = await start_and_read(service, family.ask(), 3)
    async with asyncio.timeout(5):
        while stored_row(tmp_path / "chat.db", first[1]["message_id"]) != ("early text", "streaming"):
            await asyncio.sleep(0.05)


@over_families
@pytest.mark.parametrize("service", [{"first_token_timeout": 0.3}], indirect=True)
@pytest.mark.parametrize("stream", [True, False])
async def test_first_token_timeout_is_a_504_or_an_error_event_and_closes_upstream(
    service: httpx.AsyncClient, family: Family, stream: bool
) -> None:
    family.unfinished(stall=5)
    detail, _ = await vendor_failure(service, family.ask(stream=stream), 504)
    assert "FIRST_TOKEN_TIMEOUT" in detail
    assert detail.startswith(f"{family.provider}: ")
    async with asyncio.timeout(5):
        while family.vendor.disconnects == 0:
            await asyncio.sleep(0.02)


@over_families
@pytest.mark.parametrize("service", [{"stream_idle_timeout": 0.3}], indirect=True)
async def test_idle_stream_ends_with_an_error_event_and_keeps_the_text(
    service: httpx.AsyncClient, family: Family
) -> None:
    family.unfinished("partial", stall=5)
    events = await read_events(service, "POST", CHAT, json=family.ask())
    assert {"content": "partial"} in events
    assert "STREAM_IDLE_TIMEOUT" in events[-2]["error"]
    assert events[-1] == {"done": True}
    row = await message(service, events[0]["session_id"], events[1]["message_id"])
    assert (row["status"], row["finish_reason"], row["content"]) == ("error", "idle_timeout", "partial")


@over_families
@pytest.mark.parametrize("service", [{"max_generation_seconds": 0.5}], indirect=True)
async def test_max_generation_seconds_bounds_a_reply(service: httpx.AsyncClient, family: Family) -> None:
    family.paced(500, 0.02)
    events = await read_events(service, "POST", CHAT, json=family.ask())
    assert "MAX_GENERATION_SECONDS" in events[-2]["error"]
    row = await message(service, events[0]["session_id"], events[1]["message_id"])
    assert row["finish_reason"] == "max_generation_time"
    assert row["content"].startswith("w0 ")


@pytest.mark.parametrize("service", [{"loop_detect_chars": 300}], indirect=True)
async def test_a_reply_stuck_in_a_loop_is_stopped(
    service: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("Intro. ", *["I will repeat myself. "] * 400), delay=0.005))
    events = await read_events(service, "POST", CHAT, json=ask())
    assert "loop detected" in events[-2]["error"]
    row = await message(service, events[0]["session_id"], events[1]["message_id"])
    assert row["finish_reason"] == "loop_detected"
    assert row["content"].startswith("Intro. I will repeat myself.")
    assert row["content"].count("I will repeat myself.") < 400


@pytest.mark.parametrize("service", [{"keepalive_seconds": 0.2}], indirect=True)
async def test_idle_streams_get_keepalive_comments(
    service: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply([sse(chunk("a")), *text_stream("b")], delay=0.7))
    async with asyncio.timeout(10), service.stream("POST", CHAT, json=ask()) as response:
        raw = b"".join([part async for part in response.aiter_bytes()])
    assert b": keep-alive\n\n" in raw


@pytest.fixture
async def app(make_settings: SettingsFactory) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered and no server: turns are started by calling start_turn."""
    app = create_app(make_settings())
    async with app.router.lifespan_context(app):
        yield app


def start(app: FastAPI, text: str = "hi", **extra: Any) -> Coroutine[Any, Any, Started]:
    return start_turn(app.state.manager, app.state.registry, ChatRequest.model_validate(ask(text, **extra)))


async def stored(manager: GenerationManager, message_id: int) -> tuple[str, str]:
    row = await manager.db.run(database.get_message, message_id)
    return row.status, row.content


async def test_a_turn_stored_as_its_request_is_cancelled_is_still_generated(
    app: FastAPI, vendor: FakeOpenAIVendor
) -> None:
    """A stored `streaming` row always gets the generation that ends it, whatever the request does."""
    vendor.queue(paced(3, 0.01))
    manager = app.state.manager
    storing = signal_calls(manager.db, "run_core")
    request = asyncio.create_task(start(app))
    await storing.wait()
    request.cancel()  # as the turn's rows are written
    with pytest.raises(asyncio.CancelledError):
        await request
    generation = await next_ended(manager)
    assert await stored(manager, generation.message_id) == ("complete", "w0 w1 w2 ")


async def test_a_continue_reopened_as_its_request_is_cancelled_is_still_generated(
    app: FastAPI, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(paced(500, 0.02), paced(2, 0.01))
    manager = app.state.manager
    started = await start(app)
    async with asyncio.timeout(10):
        while not started.generation.pace.has_output:
            await asyncio.sleep(0.01)
    started.generation.abort(STOPPED)
    stopped = await next_ended(manager)
    reopening = signal_calls(manager.db, "run")
    request = asyncio.create_task(start_continue(manager, app.state.registry, stopped.message_id))
    await reopening.wait()
    request.cancel()  # while the reply is being marked streaming again
    with pytest.raises(asyncio.CancelledError):
        await request
    await next_ended(manager)
    status, content = await stored(manager, stopped.message_id)
    assert status == "complete"
    assert content.endswith("w0 w1 ")


async def test_a_reply_stopped_before_its_generation_first_runs_is_stored_as_stopped(
    app: FastAPI, vendor: FakeOpenAIVendor
) -> None:
    manager = app.state.manager
    body = ChatRequest.model_validate(ask())
    provider = app.state.registry.get("deepseek")
    generation = await _store_and_launch(manager, body, provider, {}, {})
    assert generation.abort(STOPPED)  # its task is created, not yet run
    async with asyncio.timeout(10):
        await generation.done.wait()
    row = await manager.db.run(database.get_message, generation.message_id)
    assert (row.status, row.finish_reason) == ("stopped", "stopped by user")
    assert not vendor.requests


def signal_calls(db: database.Database, method: str) -> asyncio.Event:
    """An event set when `db.<method>` is next called (the call itself goes on unchanged)."""
    called = asyncio.Event()
    original = getattr(db, method)

    async def signalled(*args: Any, **kwargs: Any) -> Any:
        called.set()
        return await original(*args, **kwargs)

    setattr(db, method, signalled)
    return called


async def next_ended(manager: GenerationManager) -> Generation:
    """Wait (bounded) for the next generation to end and be stored, and forget it."""
    async with asyncio.timeout(10):
        while not manager._recent:
            await asyncio.sleep(0.01)
    (_, generation), *_ = manager._recent.values()
    manager._recent.clear()
    return generation
