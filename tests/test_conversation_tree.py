"""Conversations as trees through the HTTP API: edit, regenerate, siblings, switching branches.

The vendor's context is checked on every turn: it is exactly the path to the new message's parent.
"""

import httpx
import pytest

from tests.conftest import ChatCall, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, text_stream
from tests.sse import start_and_read

pytestmark = pytest.mark.timeout(30)
API = "/api/v1/sessions"


def answers(vendor: FakeOpenAIVendor, *texts: str) -> None:
    vendor.queue(*(Reply(text_stream(text)) for text in texts))


def seen_by_vendor(vendor: FakeOpenAIVendor) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in vendor.requests[-1].body["messages"]]


async def shown(http: httpx.AsyncClient, session_id: int) -> list[tuple[str, str]]:
    response = await http.get(f"{API}/{session_id}")
    assert response.status_code == 200
    return [(m["role"], m["content"]) for m in response.json()["messages"]]


async def test_edit_and_regenerate_three_levels_deep_and_switch_between_branches(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    answers(vendor, "A1", "A2", "A3")
    first = await chat(client, chat_body(content="Q1"))
    session_id = first.events[0]["session_id"]
    await chat(client, chat_body(content="Q2", session_id=session_id))
    third = await chat(client, chat_body(content="Q3", session_id=session_id))
    line = [
        ("user", "Q1"),
        ("assistant", "A1"),
        ("user", "Q2"),
        ("assistant", "A2"),
        ("user", "Q3"),
        ("assistant", "A3"),
    ]
    assert await shown(client, session_id) == line
    detail = (await client.get(f"{API}/{session_id}")).json()
    ids = [m["id"] for m in detail["messages"]]
    assert [m["parent_id"] for m in detail["messages"]] == [None, *ids[:-1]]
    assert detail["current_leaf_id"] == third.events[1]["message_id"]

    # Level 3: regenerate A3 with another model; the vendor sees the path up to Q3 only.
    answers(vendor, "A3 bis")
    regenerated = await chat_on(
        client, f"{API}/{session_id}/messages/{ids[5]}/regenerate", {"model": "deepseek-reasoner"}
    )
    assert regenerated.text == "A3 bis"
    assert seen_by_vendor(vendor) == line[:5]
    assert vendor.requests[-1].body["model"] == "deepseek-reasoner"
    assert await shown(client, session_id) == [*line[:5], ("assistant", "A3 bis")]

    # Level 2: edit Q2; the vendor sees Q1, A1 and the new Q2, none of the old branch.
    answers(vendor, "A2 edited")
    edited = await chat_on(client, f"{API}/{session_id}/messages/{ids[2]}/edit", {"content": "Q2 edited"})
    assert edited.text == "A2 edited"
    assert seen_by_vendor(vendor) == [*line[:2], ("user", "Q2 edited")]
    assert await shown(client, session_id) == [*line[:2], ("user", "Q2 edited"), ("assistant", "A2 edited")]

    # Level 1: edit Q1, then go on in that branch: its context is that branch alone.
    answers(vendor, "A1 edited", "A4")
    await chat_on(client, f"{API}/{session_id}/messages/{ids[0]}/edit", {"content": "Q1 edited"})
    await chat(client, chat_body(content="Q4", session_id=session_id))
    assert seen_by_vendor(vendor) == [("user", "Q1 edited"), ("assistant", "A1 edited"), ("user", "Q4")]

    siblings = (await client.get(f"{API}/{session_id}/messages/{ids[0]}/siblings")).json()
    assert [(m["content"], m["parent_id"]) for m in siblings] == [("Q1", None), ("Q1 edited", None)]
    second_level = (await client.get(f"{API}/{session_id}/messages/{ids[2]}/siblings")).json()
    assert [m["content"] for m in second_level] == ["Q2", "Q2 edited"]
    third_level = (await client.get(f"{API}/{session_id}/messages/{ids[5]}/siblings")).json()
    assert [m["content"] for m in third_level] == ["A3", "A3 bis"]

    # Back to the first version of Q1: the newest leaf below it, the edited Q2's reply.
    switched = await client.put(f"{API}/{session_id}/leaf", json={"message_id": ids[0]})
    assert switched.status_code == 200
    assert [(m["role"], m["content"]) for m in switched.json()["messages"]] == [
        *line[:2],
        ("user", "Q2 edited"),
        ("assistant", "A2 edited"),
    ]
    # To the old Q2 branch, at its first answer A3 (not the regenerated one): switch to A3 itself.
    await client.put(f"{API}/{session_id}/leaf", json={"message_id": ids[5]})
    assert await shown(client, session_id) == line
    # A turn goes on from the branch shown, with exactly that path as context.
    answers(vendor, "A5")
    await chat(client, chat_body(content="Q5", session_id=session_id))
    assert seen_by_vendor(vendor) == [*line, ("user", "Q5")]

    tree = (await client.get(f"{API}/{session_id}/tree")).json()
    assert tree["session_id"] == session_id
    assert len(tree["messages"]) == 6 + 1 + 2 + 2 + 2 + 2
    by_id = {m["id"]: m for m in tree["messages"]}
    assert tree["current_leaf_id"] == max(by_id)
    for node in tree["messages"]:
        assert node["children"] == sorted(m["id"] for m in tree["messages"] if m["parent_id"] == node["id"])
    assert [by_id[c]["content"] for c in by_id[ids[1]]["children"]] == ["Q2", "Q2 edited"]


async def chat_on(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> "Streamed":
    response = await client.post(path, json={**body, "stream": False})
    assert response.status_code == 200, response.text
    return Streamed(response.json()["message"]["content"], response.json())


class Streamed:
    def __init__(self, text: str, body: dict[str, object]) -> None:
        self.text, self.body = text, body


async def test_a_streamed_edit_answers_as_post_chat_does(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    answers(vendor, "A1", "B1")
    first = await chat(client, chat_body(content="Q1"))
    session_id, user_id = first.events[0]["session_id"], first.events[1]["message_id"] - 1
    response = await client.post(f"{API}/{session_id}/messages/{user_id}/edit", json={"content": "P1"})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert '{"content":"B1"}' in response.text and '{"done":true}' in response.text


async def test_a_branch_while_a_reply_of_the_session_runs_is_refused_naming_it(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    answers(vendor, "A1")
    first = await chat(client, chat_body(content="Q1"))
    session_id = first.events[0]["session_id"]
    user_id, reply_id = first.events[1]["message_id"] - 1, first.events[1]["message_id"]
    vendor.queue(Reply(text_stream(*(f"w{i} " for i in range(200))), delay=0.05))
    head = await start_and_read(client, chat_body(content="Q2", session_id=session_id), 3)
    running = head[1]["message_id"]
    for path, body in (
        (f"{API}/{session_id}/messages/{user_id}/edit", {"content": "other"}),
        (f"{API}/{session_id}/messages/{reply_id}/regenerate", {}),
    ):
        refused = await client.post(path, json=body)
        assert refused.status_code == 409
        assert refused.json() == {
            "detail": f"Session {session_id} is generating reply {running}: a new branch starts once it has "
            f"ended (stop it with POST /stream/{running}/abort, or wait for it)",
            "running_message_id": running,
        }
    assert len(vendor.requests) == 2
    assert (await client.post(f"/stream/{running}/abort")).status_code == 200
    answers(vendor, "A1 bis")
    again = await client.post(f"{API}/{session_id}/messages/{reply_id}/regenerate", json={"stream": False})
    assert again.status_code == 200 and again.json()["message"]["content"] == "A1 bis"


async def test_truncate_keeps_its_meaning_on_the_path_and_keeps_other_branches(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    answers(vendor, "A1", "A2", "A2 bis")
    first = await chat(client, chat_body(content="Q1"))
    session_id = first.events[0]["session_id"]
    second = await chat(client, chat_body(content="Q2", session_id=session_id))
    reply_id = second.events[1]["message_id"]
    await chat_on(client, f"{API}/{session_id}/messages/{reply_id}/regenerate", {})
    user_id = reply_id - 1
    assert (await client.delete(f"{API}/{session_id}/truncate/{user_id}")).status_code == 204
    assert await shown(client, session_id) == [("user", "Q1"), ("assistant", "A1")]
    tree = (await client.get(f"{API}/{session_id}/tree")).json()
    assert [m["content"] for m in tree["messages"]] == ["Q1", "A1"]
    assert tree["current_leaf_id"] == tree["messages"][1]["id"]


async def test_tree_routes_name_what_they_do_not_find(client: httpx.AsyncClient, chat: ChatCall) -> None:
    first = await chat(client, chat_body(content="Q1"))
    session_id, reply_id = first.events[0]["session_id"], first.events[1]["message_id"]
    other = (await client.post(API, json={"title": "t", "provider": "deepseek", "model": "m"})).json()["id"]
    cases = [
        ("GET", f"{API}/999/tree", None, "Session 999 not found"),
        (
            "GET",
            f"{API}/{session_id}/messages/999/siblings",
            None,
            f"Message 999 not found in session {session_id}",
        ),
        (
            "PUT",
            f"{API}/{other}/leaf",
            {"message_id": reply_id},
            f"Message {reply_id} not found in session {other}",
        ),
        (
            "POST",
            f"{API}/{session_id}/messages/{reply_id}/edit",
            {"content": "x"},
            f"User message {reply_id} not found in session {session_id}",
        ),
        (
            "POST",
            f"{API}/{session_id}/messages/{reply_id - 1}/regenerate",
            {},
            f"Assistant message {reply_id - 1} not found in session {session_id}",
        ),
    ]
    for method, path, body, detail in cases:
        response = await client.request(method, path, json=body)
        assert (response.status_code, response.json()["detail"]) == (404, detail)
    invalid = await client.put(f"{API}/{session_id}/leaf", json={})
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "message_id"]
