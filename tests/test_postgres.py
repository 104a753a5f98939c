"""The service on PostgreSQL (DATABASE_URL=postgresql://...): turns, statuses, deletes and recovery.

A real server from Debian's package runs for the module (scripts/install-postgres.sh installs it);
each test gets a database of its own.
"""

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from httpx_sse import aconnect_sse

from app_factory import create_app
from config import Settings
from tests.conftest import ChatCall, SettingsFactory, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, text_stream
from tests.fakes.server import ServerThread
from tests.postgres_server import create_database

pytestmark = pytest.mark.timeout(60)

CHAT = "/api/v1/chat"
_names = itertools.count(1)


@pytest.fixture
def database_url(postgres: str) -> str:
    return create_database(postgres, f"chat_{next(_names)}")


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    with ServerThread(create_app(settings), lifespan="on") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield http


@pytest.fixture
async def service(make_settings: SettingsFactory, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(make_settings(database_url=database_url)) as http:
        yield http


def rows(database_url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


async def test_turns_are_stored_and_a_session_sends_its_history(
    service: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, database_url: str
) -> None:
    first = await chat(service, chat_body("deepseek", "Hi, 你好", system_prompt="Be brief."))
    session_id = first.events[0]["session_id"]
    second = await chat(service, chat_body("deepseek", "And again", session_id=session_id))
    assert (first.text, second.text, second.events[-1]) == ("Hello world", "Hello world", {"done": True})
    assert vendor.requests[-1].body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi, 你好"},
        {"role": "assistant", "content": "Hello world"},
        {"role": "user", "content": "And again"},
    ]
    listed = await service.get("/api/v1/sessions")
    assert listed.headers["X-Total-Count"] == "1"
    messages = (await service.get(f"/api/v1/sessions/{session_id}")).json()["messages"]
    assert [(m["role"], m["status"]) for m in messages] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert messages[1]["usage"]["total_tokens"] > 0
    stored = rows(database_url, "SELECT content, finish_reason, usage FROM chat_messages ORDER BY id")
    assert [r[0] for r in stored] == ["Hi, 你好", "Hello world", "And again", "Hello world"]
    assert stored[1][1] == "stop"
    assert stored[1][2] == messages[1]["usage"]


async def test_stop_keeps_the_partial_text_and_continue_appends_to_it(
    service: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream(*(f"w{i} " for i in range(400))), delay=0.02))
    body = chat_body("deepseek", "tell a story")
    async with aconnect_sse(service, "POST", CHAT, json=body, headers={"X-Resumable": "1"}) as source:
        events = source.aiter_sse()
        session_id = json.loads((await anext(events)).data)["session_id"]
        message_id = json.loads((await anext(events)).data)["message_id"]
        await anext(events)
    stopped = (await service.post(f"{CHAT}/{message_id}/stop")).json()
    assert (stopped["status"], stopped["finish_reason"]) == ("stopped", "stopped by user")
    assert stopped["content"].startswith("w0 ")
    again = await service.post(f"{CHAT}/{message_id}/stop")
    assert again.status_code == 409
    vendor.queue(Reply(text_stream("the", " end.")))
    await (await service.post(f"{CHAT}/{message_id}/continue", json={"stream": False})).aread()
    detail = (await service.get(f"/api/v1/sessions/{session_id}")).json()
    reply = detail["messages"][-1]
    assert (reply["status"], reply["content"]) == ("complete", stopped["content"] + "the end.")


async def test_turns_at_once_beyond_the_database_threads_are_all_stored(
    service: httpx.AsyncClient, chat: ChatCall, database_url: str
) -> None:
    replies = await asyncio.gather(*(chat(service, chat_body("deepseek", f"q{i}")) for i in range(20)))
    assert all(r.status == 200 and r.text == "Hello world" for r in replies)
    listed = await service.get("/api/v1/sessions", params={"limit": 100})
    assert listed.headers["X-Total-Count"] == "20"
    assert rows(database_url, "SELECT status, count(*) FROM chat_messages GROUP BY status") == [
        ("complete", 40)
    ]


async def test_deleting_a_session_deletes_its_messages(
    service: httpx.AsyncClient, chat: ChatCall, database_url: str
) -> None:
    kept = await chat(service, chat_body("deepseek", "keep me"))
    gone = await chat(service, chat_body("deepseek", "delete me"))
    session_id = gone.events[0]["session_id"]
    assert (await service.delete(f"/api/v1/sessions/{session_id}")).status_code == 204
    assert (await service.get(f"/api/v1/sessions/{session_id}")).status_code == 404
    left = rows(database_url, "SELECT DISTINCT session_id FROM chat_messages")
    assert left == [(kept.events[0]["session_id"],)]


async def test_a_reply_left_streaming_by_a_dead_process_is_interrupted_at_start(
    make_settings: SettingsFactory, chat: ChatCall, database_url: str
) -> None:
    settings = make_settings(database_url=database_url)
    async with serving(settings) as http:
        reply = await chat(http, chat_body("deepseek", "hi"))
    session_id, message_id = reply.events[0]["session_id"], reply.events[1]["message_id"]
    # What a process killed mid-reply leaves behind: the row still `streaming`, its text flushed.
    with psycopg.connect(database_url) as conn:
        update = "UPDATE chat_messages SET status = 'streaming', content = 'Hel' WHERE id = %s"
        conn.execute(update, [message_id])
    async with serving(settings) as http:
        detail = (await http.get(f"/api/v1/sessions/{session_id}")).json()
    row = detail["messages"][-1]
    assert (row["status"], row["content"]) == ("interrupted", "Hel")
