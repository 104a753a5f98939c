"""The sessions API: list, detail, create, rename, delete, truncate, delete all; 404s and 422s."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import database
from config import Settings
from tests.conftest import ChatCall, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, text_stream

pytestmark = pytest.mark.timeout(30)

SESSIONS = "/api/v1/sessions"


async def new_session(http: httpx.AsyncClient, title: str = "Trip ideas", **fields: Any) -> dict[str, Any]:
    body = {"title": title, "provider": "deepseek", "model": "deepseek-chat", **fields}
    response = await http.post(SESSIONS, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def chat_turn(http: httpx.AsyncClient, chat: ChatCall, session_id: int | None, text: str) -> int:
    """One stream=false turn; returns the session id."""
    body = chat_body("deepseek", text, stream=False)
    if session_id is not None:
        body["session_id"] = session_id
    reply = await chat(http, body)
    assert reply.status == 200, reply.json
    session: int = reply.json["session_id"]
    return session


# --- create and read ----------------------------------------------------------------------------


async def test_creating_a_session_answers_201_with_the_session(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SESSIONS, json={"title": "Trip ideas", "provider": "deepseek", "model": "deepseek-chat"}
    )
    assert response.status_code == 201
    session = response.json()
    assert isinstance(session["id"], int)
    assert (session["title"], session["provider"], session["model"]) == (
        "Trip ideas",
        "deepseek",
        "deepseek-chat",
    )
    assert session["message_count"] == 0
    assert session["created_at"] and session["updated_at"]


async def test_creating_a_session_for_an_unknown_provider_is_a_400_listing_the_known_ids(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(SESSIONS, json={"title": "t", "provider": "nope", "model": "m"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("Unknown provider 'nope'. Known providers: anthropic, cerebras, deepseek")
    assert (await client.get(SESSIONS)).json() == []


async def test_a_session_title_with_an_unpaired_surrogate_is_a_422_naming_it(
    client: httpx.AsyncClient,
) -> None:
    session = await new_session(client)
    headers = {"content-type": "application/json"}
    created = await client.post(
        SESSIONS, content='{"title": "a\\udc00", "provider": "deepseek", "model": "m"}', headers=headers
    )
    url = f"{SESSIONS}/{session['id']}"
    renamed = await client.patch(url, content='{"title": "\\ud800"}', headers=headers)
    for response in (created, renamed):
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"] == "title holds an unpaired surrogate, which is not text"
    assert (await client.get(url)).json()["title"] == "Trip ideas"
    assert len((await client.get(SESSIONS)).json()) == 1


async def test_a_session_created_without_a_title_is_called_new_chat(client: httpx.AsyncClient) -> None:
    response = await client.post(SESSIONS, json={"provider": "groq", "model": "llama-3.3-70b-versatile"})
    assert response.status_code == 201
    assert response.json()["title"] == "New Chat"


async def test_the_session_list_is_a_bare_array_with_message_counts_and_a_total_header(
    client: httpx.AsyncClient, chat: ChatCall
) -> None:
    empty = await new_session(client, "empty")
    talked = await chat_turn(client, chat, None, "hello there")
    response = await client.get(SESSIONS)
    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "2"
    sessions = response.json()
    assert isinstance(sessions, list)
    counts = {s["id"]: s["message_count"] for s in sessions}
    assert counts == {empty["id"]: 0, talked: 2}


async def test_the_session_list_puts_the_most_recently_active_first(
    client: httpx.AsyncClient, chat: ChatCall
) -> None:
    first = await new_session(client, "first")
    second = await new_session(client, "second")
    third = await new_session(client, "third")
    await chat_turn(client, chat, first["id"], "bring me back to the top")
    response = await client.get(SESSIONS)
    assert [s["id"] for s in response.json()] == [first["id"], third["id"], second["id"]]


async def test_the_session_list_pages_with_skip_and_limit_and_still_counts_everything(
    client: httpx.AsyncClient,
) -> None:
    ids = [(await new_session(client, f"s{i}"))["id"] for i in range(5)]
    newest_first = ids[::-1]
    response = await client.get(SESSIONS, params={"skip": 1, "limit": 2})
    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == newest_first[1:3]
    assert response.headers["X-Total-Count"] == "5"
    tail = await client.get(SESSIONS, params={"skip": 4, "limit": 100})
    assert [s["id"] for s in tail.json()] == newest_first[4:]


async def test_session_detail_has_its_messages_oldest_first(
    client: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("one")), Reply(text_stream("two")))
    session_id = await chat_turn(client, chat, None, "first question")
    await chat_turn(client, chat, session_id, "second question")
    response = await client.get(f"{SESSIONS}/{session_id}")
    assert response.status_code == 200
    detail = response.json()
    assert detail["id"] == session_id
    assert detail["message_count"] == 4
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", "first question"),
        ("assistant", "one"),
        ("user", "second question"),
        ("assistant", "two"),
    ]
    ids = [m["id"] for m in detail["messages"]]
    assert ids == sorted(ids)
    assert all(m["created_at"] for m in detail["messages"])


# --- rename -------------------------------------------------------------------------------------


async def test_renaming_a_session_changes_its_title_and_keeps_its_message_count(
    client: httpx.AsyncClient, chat: ChatCall
) -> None:
    session_id = await chat_turn(client, chat, None, "hello")
    response = await client.patch(f"{SESSIONS}/{session_id}", json={"title": "Renamed chat"})
    assert response.status_code == 200
    assert response.json()["title"] == "Renamed chat"
    assert response.json()["message_count"] == 2
    assert (await client.get(f"{SESSIONS}/{session_id}")).json()["title"] == "Renamed chat"


# --- delete and truncate ------------------------------------------------------------------------


async def stored_message_sessions(settings: Settings) -> list[int]:
    """The session id of every message row in the test's database, read beside the running service."""
    db = database.Database(settings.database_url)
    try:
        rows = await db.run(lambda session: session.scalars(select(database.ChatMessage.session_id)).all())
        return sorted(rows)
    finally:
        await db.close()


async def test_deleting_a_session_answers_204_and_its_messages_are_gone(
    client: httpx.AsyncClient, chat: ChatCall, settings: Settings
) -> None:
    session_id = await chat_turn(client, chat, None, "hello")
    kept = await chat_turn(client, chat, None, "other")
    response = await client.delete(f"{SESSIONS}/{session_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"{SESSIONS}/{session_id}")).status_code == 404
    assert [s["id"] for s in (await client.get(SESSIONS)).json()] == [kept]
    assert await stored_message_sessions(settings) == [kept, kept]


async def test_a_deleted_reply_can_no_longer_be_replayed(client: httpx.AsyncClient, chat: ChatCall) -> None:
    reply = await chat(client, chat_body("deepseek", "secret", stream=False))
    message_id = reply.json["message"]["id"]
    assert (await client.delete(f"{SESSIONS}/{reply.json['session_id']}")).status_code == 204
    replay = await client.get(f"/api/v1/chat/{message_id}/stream")
    assert replay.status_code == 404
    assert replay.json()["detail"] == f"Assistant message {message_id} not found"


async def test_truncating_removes_that_message_and_every_later_one(
    client: httpx.AsyncClient, chat: ChatCall
) -> None:
    session_id = await chat_turn(client, chat, None, "first")
    await chat_turn(client, chat, session_id, "second")
    messages = (await client.get(f"{SESSIONS}/{session_id}")).json()["messages"]
    second_question = messages[2]
    response = await client.delete(f"{SESSIONS}/{session_id}/truncate/{second_question['id']}")
    assert response.status_code == 204
    assert response.content == b""
    detail = (await client.get(f"{SESSIONS}/{session_id}")).json()
    assert [m["id"] for m in detail["messages"]] == [messages[0]["id"], messages[1]["id"]]
    assert detail["message_count"] == 2


async def test_truncating_then_chatting_again_regenerates_from_that_point(
    client: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    session_id = await chat_turn(client, chat, None, "first")
    await chat_turn(client, chat, session_id, "typo")
    messages = (await client.get(f"{SESSIONS}/{session_id}")).json()["messages"]
    await client.delete(f"{SESSIONS}/{session_id}/truncate/{messages[2]['id']}")
    await chat_turn(client, chat, session_id, "fixed")
    sent = vendor.requests[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "first"),
        ("assistant", "Hello world"),
        ("user", "fixed"),
    ]


async def test_truncating_at_a_message_of_another_session_is_a_404_and_deletes_nothing(
    client: httpx.AsyncClient, chat: ChatCall
) -> None:
    mine = await chat_turn(client, chat, None, "mine")
    theirs = await chat_turn(client, chat, None, "theirs")
    their_message = (await client.get(f"{SESSIONS}/{theirs}")).json()["messages"][0]["id"]
    response = await client.delete(f"{SESSIONS}/{mine}/truncate/{their_message}")
    assert response.status_code == 404
    assert response.json()["detail"] == f"Message {their_message} not found in session {mine}"
    for session_id in (mine, theirs):
        assert (await client.get(f"{SESSIONS}/{session_id}")).json()["message_count"] == 2


async def test_deleting_all_sessions_answers_204_and_leaves_none(
    client: httpx.AsyncClient, chat: ChatCall, settings: Settings
) -> None:
    await new_session(client, "a")
    await chat_turn(client, chat, None, "b")
    response = await client.delete(SESSIONS)
    assert response.status_code == 204
    assert response.content == b""
    listing = await client.get(SESSIONS)
    assert listing.json() == []
    assert listing.headers["X-Total-Count"] == "0"
    assert await stored_message_sessions(settings) == []


async def test_deleting_a_session_while_its_reply_streams_stops_the_reply(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream(*["word "] * 200), delay=0.02))
    body = chat_body("deepseek", "long answer please")
    async with client.stream("POST", "/api/v1/chat", json=body) as response:
        assert response.status_code == 200
        async with asyncio.timeout(5):
            async for line in response.aiter_lines():
                if '"content"' in line:
                    break
        session_id = (await client.get(SESSIONS)).json()[0]["id"]
        deleted = await client.delete(f"{SESSIONS}/{session_id}")
    assert deleted.status_code == 204
    assert (await client.get(f"{SESSIONS}/{session_id}")).status_code == 404
    async with asyncio.timeout(5):
        while not vendor.disconnects:
            await asyncio.sleep(0.02)
    assert vendor.completed == 0


# --- not found and invalid ----------------------------------------------------------------------

UNKNOWN_SESSION_CALLS = [
    ("GET", "/4242", None),
    ("PATCH", "/4242", {"title": "x"}),
    ("DELETE", "/4242", None),
    ("DELETE", "/4242/truncate/1", None),
]


async def test_an_unknown_session_is_a_404_naming_its_id(client: httpx.AsyncClient) -> None:
    for method, path, body in UNKNOWN_SESSION_CALLS:
        response = await client.request(method, SESSIONS + path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"] == "Session 4242 not found"


async def test_chatting_in_an_unknown_session_is_a_404_naming_its_id(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    response = await client.post("/api/v1/chat", json=chat_body("deepseek", session_id=4242))
    assert response.status_code == 404
    assert response.json()["detail"] == "Session 4242 not found"
    assert vendor.requests == []


# (method, path, JSON body, where the 422 points); {id} is an existing session.
INVALID_CALLS: list[tuple[str, str, dict[str, Any] | None, list[object]]] = [
    ("POST", "", {"title": "no provider", "model": "m"}, ["body", "provider"]),
    ("POST", "", {"title": "no model", "provider": "deepseek"}, ["body", "model"]),
    ("POST", "", {"title": "", "provider": "deepseek", "model": "m"}, ["body", "title"]),
    ("POST", "", {"title": "x" * 201, "provider": "deepseek", "model": "m"}, ["body", "title"]),
    ("PATCH", "/{id}", {}, ["body", "title"]),
    ("PATCH", "/{id}", {"title": ""}, ["body", "title"]),
    ("GET", "/abc", None, ["path", "session_id"]),
    ("DELETE", "/{id}/truncate/abc", None, ["path", "message_id"]),
    ("GET", f"/{2**63}", None, ["path", "session_id"]),
    ("PATCH", "/0", {"title": "x"}, ["path", "session_id"]),
    ("DELETE", f"/{2**31}", None, ["path", "session_id"]),
    ("DELETE", f"/{{id}}/truncate/{2**63}", None, ["path", "message_id"]),
    ("GET", "?skip=-1", None, ["query", "skip"]),
    ("GET", f"?skip={2**63}", None, ["query", "skip"]),
    ("GET", "?limit=0", None, ["query", "limit"]),
    ("GET", "?limit=1001", None, ["query", "limit"]),
]


async def test_an_invalid_sessions_call_is_a_422_naming_the_field(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    for method, path, body, loc in INVALID_CALLS:
        url = SESSIONS + path.format(id=session["id"])
        response = await client.request(method, url, json=body)
        assert response.status_code == 422, (method, url)
        assert [e["loc"] for e in response.json()["detail"]] == [loc], (method, url)
    assert (await client.get(f"{SESSIONS}/{session['id']}")).json()["title"] == "Trip ideas"
    assert (await client.get(f"{SESSIONS}?skip={2**31 - 1}")).json() == []
