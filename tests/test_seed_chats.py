"""Seed 003's chat routes at the root: /chats, their messages, editing a message, /models, /providers.

They are the main API's sessions under other paths: a chat made here is a session there.
"""

import httpx
import pytest

from tests.conftest import chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor
from tests.families import MODELS

pytestmark = pytest.mark.timeout(60)


async def new_chat(http: httpx.AsyncClient, title: str = "Seed chat") -> dict[str, object]:
    made = await http.post(
        "/chats", json={"title": title, "provider": "deepseek", "model": MODELS["deepseek"]}
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


async def test_a_chat_made_here_is_a_session_of_the_main_api(client: httpx.AsyncClient) -> None:
    chat = await new_chat(client)
    listed = (await client.get("/chats")).json()
    session = (await client.get(f"/api/v1/sessions/{chat['id']}")).json()
    assert [c["id"] for c in listed] == [chat["id"]]
    assert (session["title"], session["messages"]) == ("Seed chat", [])


async def test_a_message_posted_to_a_chat_is_answered_and_kept(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    chat = await new_chat(client)
    answer = await client.post(f"/chats/{chat['id']}/messages", json={"content": "Bonjour"})
    assert answer.status_code == 201
    assert answer.json()["session_id"] == chat["id"]
    assert answer.json()["message"]["role"] == "assistant" and answer.json()["message"]["content"]
    messages = (await client.get(f"/chats/{chat['id']}/messages")).json()
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "Bonjour"),
        ("assistant", answer.json()["message"]["content"]),
    ]
    assert vendor.requests[-1].body["messages"][-1] == {"role": "user", "content": "Bonjour"}


async def test_editing_a_message_changes_it_and_removes_what_answered_the_old_text(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/api/v1/chat", json=chat_body(stream=False, content="one"))
    session_id = first.json()["session_id"]
    await client.post("/api/v1/chat", json=chat_body(stream=False, content="two", session_id=session_id))
    messages = (await client.get(f"/chats/{session_id}")).json()["messages"]
    edited = await client.patch(f"/messages/{messages[2]['id']}", json={"content": "two, edited"})
    assert edited.status_code == 200
    # A new version beside the old one, answered anew; the chat shows it, the old branch is kept.
    assert edited.json()["content"] == "two, edited"
    assert edited.json()["parent_id"] == messages[2]["parent_id"] == messages[1]["id"]
    after = (await client.get(f"/chats/{session_id}/messages")).json()
    assert [m["content"] for m in after] == ["one", messages[1]["content"], "two, edited", "Hello world"]
    versions = await client.get(f"/api/v1/sessions/{session_id}/messages/{edited.json()['id']}/siblings")
    assert [m["content"] for m in versions.json()] == ["two", "two, edited"]
    reply = await client.patch(f"/messages/{after[-1]['id']}", json={"content": "no"})
    assert reply.status_code == 422 and "only user messages are edited" in reply.json()["detail"]


async def test_a_deleted_chat_is_gone_from_both_apis(client: httpx.AsyncClient) -> None:
    chat = await new_chat(client)
    assert (await client.delete(f"/chats/{chat['id']}")).status_code == 204
    for path in (f"/chats/{chat['id']}", f"/api/v1/sessions/{chat['id']}", f"/chats/{chat['id']}/messages"):
        answer = await client.get(path)
        assert (answer.status_code, answer.json()["detail"]) == (404, f"Session {chat['id']} not found")
    missing = await client.patch("/messages/999", json={"content": "x"})
    assert (missing.status_code, missing.json()["detail"]) == (404, "Message 999 not found")


async def test_models_and_providers_at_the_root_are_the_apis_own(client: httpx.AsyncClient) -> None:
    for path in ("/providers", "/models?provider=deepseek"):
        root, prefixed = await client.get(path), await client.get(f"/api/v1{path}")
        assert root.status_code == 200
        assert root.json() == prefixed.json()
    assert "deepseek" in [p["id"] for p in (await client.get("/providers")).json()]
