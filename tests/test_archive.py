"""Export and import: our own format round trips every column; ChatGPT's export is read; no doubles.

GET /api/v1/export, GET /api/v1/sessions/{id}/export and POST /api/v1/import, on SQLite and
PostgreSQL; an import that fails stores nothing.
"""

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import media_samples
from tests.conftest import ChatCall, ServeApp, SettingsFactory, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream

pytestmark = pytest.mark.timeout(60)

API = "/api/v1"


@pytest.fixture
def http(served_on_each_database: httpx.AsyncClient) -> httpx.AsyncClient:
    return served_on_each_database


async def import_file(http: httpx.AsyncClient, document: Any, name: str = "archive.json") -> httpx.Response:
    data = document if isinstance(document, bytes) else json.dumps(document, ensure_ascii=False).encode()
    return await http.post(f"{API}/import", files={"file": (name, data, "application/json")})


async def all_sessions(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    listed = (await http.get(f"{API}/sessions")).json()
    return [(await http.get(f"{API}/sessions/{s['id']}")).json() for s in listed]


def without_ids(detail: dict[str, Any]) -> dict[str, Any]:
    """A session as GET /sessions/{id} gives it, less what an import gives anew."""
    kept = {k: v for k, v in detail.items() if k not in ("id", "origin")}
    return {**kept, "messages": [{k: v for k, v in m.items() if k != "id"} for m in detail["messages"]]}


MESSAGE_DEFAULTS: dict[str, Any] = {
    "images": None,
    "videos": None,
    "audios": None,
    "documents": None,
    "thought_process": None,
    "thought_signatures": None,
    "search_results": None,
    "provider": None,
    "model": None,
    "finish_reason": None,
    "usage": None,
    "error": None,
    "tool_calls": None,
}


def archived_message(number: int, role: str, content: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": number,
        "parent_id": number - 1 if number > 1 else None,
        "role": role,
        "content": content,
        **MESSAGE_DEFAULTS,
        "status": "complete",
        "created_at": f"2026-11-30T09:{number:02d}:07.123456Z",
        **fields,
    }


def archive_of(*sessions: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "lite-llm-chat",
        "version": 1,
        "exported_at": "2026-12-01T00:00:00Z",
        "sessions": list(sessions),
    }


FULL_SESSION: dict[str, Any] = {
    "id": 41,
    "origin": None,
    "title": "Voyage à Kyōto 🗾",
    "provider": "gemini",
    "model": "gemini-2.5-flash",
    "system_prompt": "Sois bref.",
    "chat_id": "kyoto-trip",
    "created_at": "2026-11-30T09:00:07.123456Z",
    "updated_at": "2026-11-30T09:09:07.123456Z",
    "current_leaf_id": 3,
    "messages": [
        archived_message(
            1,
            "user",
            "Que voir ? 🏯",
            images=["/uploads/temple.png"],
            videos=["https://example.org/walk.mp4"],
            audios=["/uploads/question.mp3"],
            documents=["/uploads/guide.pdf"],
        ),
        archived_message(
            2,
            "assistant",
            "Le Kinkaku-ji.",
            provider="gemini",
            model="gemini-2.5-flash",
            thought_process="L'utilisateur veut des lieux…",
            thought_signatures=["c2lnbmF0dXJl", "b3RoZXI="],
            search_results=[{"title": "金閣寺", "url": "https://example.org/kinkaku", "content": "Pavillon"}],
            finish_reason="stop",
            usage={"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46, "reasoning_tokens": 5},
            tool_calls=[
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Kyoto"}'},
                }
            ],
        ),
        archived_message(
            3,
            "assistant",
            "Partial",
            provider="gemini",
            model="m",
            status="error",
            finish_reason="error",
            error="gemini: rate limited (429)",
        ),
    ],
}


async def test_an_archive_of_ours_round_trips_every_column(http: httpx.AsyncClient) -> None:
    imported = await import_file(http, archive_of(FULL_SESSION))
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported"] == 1
    (session_id,) = imported.json()["session_ids"]
    exported = await http.get(f"{API}/sessions/{session_id}/export")
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == f'attachment; filename="chat-session-{session_id}.json"'
    (session,) = exported.json()["sessions"]
    new_ids = [m["id"] for m in session["messages"]]
    assert new_ids == sorted(new_ids) and len(new_ids) == 3
    # Only the ids are new; the origin records the file the session came from.
    assert session["origin"].startswith("lite-llm-chat:")
    expected = copy.deepcopy(FULL_SESSION)
    expected |= {"id": session_id, "origin": session["origin"], "current_leaf_id": new_ids[-1]}
    for message, new_id, parent in zip(expected["messages"], new_ids, [None, *new_ids], strict=False):
        message |= {"id": new_id, "parent_id": parent}
    assert session == expected


async def test_a_session_exported_from_one_service_reads_the_same_in_another(
    http: httpx.AsyncClient,
    chat: ChatCall,
    vendor: FakeOpenAIVendor,
    serve: ServeApp,
    make_settings: SettingsFactory,
    tmp_path: Path,
) -> None:
    upload = await http.post(f"{API}/upload", files={"file": ("a.png", media_samples.png(), "image/png")})
    image = upload.json()["url"]
    vendor.queue(Reply([sse(chunk(reasoning_content="Let me think.")), *text_stream("A ", "square.")]))
    body = chat_body("deepseek", "What is this?", stream=False)
    body["messages"][0]["images"] = [image]
    first = await chat(http, body)
    assert first.status == 200, first.json
    await chat(http, chat_body("deepseek", "Sure?", session_id=first.json["session_id"], stream=False))
    originals = await all_sessions(http)
    exported = await http.get(f"{API}/export")
    assert exported.headers["content-disposition"] == 'attachment; filename="chat-history.json"'
    async with serve(make_settings(database_url=f"sqlite:///{tmp_path / 'other.db'}")) as other:
        assert (await import_file(other, exported.content)).json()["imported"] == 1
        copies = await all_sessions(other)
    assert [without_ids(s) for s in copies] == [without_ids(s) for s in originals]
    reply = copies[0]["messages"][1]
    assert (reply["thought_process"], reply["content"]) == ("Let me think.", "A square.")
    assert reply["usage"]["total_tokens"] == 12
    assert copies[0]["messages"][0]["images"] == [image]


async def test_importing_the_same_file_twice_adds_nothing_the_second_time(http: httpx.AsyncClient) -> None:
    other = {**FULL_SESSION, "id": 7, "chat_id": None, "title": "Second"}
    document = archive_of(FULL_SESSION, other)
    first = (await import_file(http, document)).json()
    second = (await import_file(http, document)).json()
    assert (first["imported"], first["skipped"]) == (2, 0)
    assert second == {"imported": 0, "skipped": 2, "session_ids": []}
    assert len(await all_sessions(http)) == 2
    # An export of the imported sessions carries their origin: importing it adds nothing either.
    again = (await import_file(http, (await http.get(f"{API}/export")).content)).json()
    assert (again["imported"], again["skipped"]) == (0, 2)


def broken(path: str, value: Any) -> dict[str, Any]:
    """A two-session archive whose second session has `value` at `path` (dotted, into messages)."""
    second: Any = copy.deepcopy({**FULL_SESSION, "chat_id": None, "title": "Second"})
    target = second
    *parents, last = path.split(".")
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    target[last] = value
    return archive_of(FULL_SESSION, second)


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        (
            broken("messages.1.role", "robot"),
            "sessions[1].messages[1].role: Input should be 'user', 'assistant' or 'system'",
        ),
        (
            broken("messages.0.created_at", "yesterday"),
            "sessions[1].messages[0].created_at: Input should be a valid datetime",
        ),
        (
            broken("messages.2.parent_id", 9),
            "sessions[1]: Value error, messages[2] (id 3) has parent_id 9, which is no earlier message",
        ),
        (broken("title", ""), "sessions[1].title: String should have at least 1 character"),
        (
            broken("messages.0.colour", "red"),
            "sessions[1].messages[0].colour: Extra inputs are not permitted",
        ),
        ({"format": "other", "sessions": []}, "format: 'other' is not 'lite-llm-chat'"),
        ({"sessions": []}, "The file is neither an archive of ours"),
        (b"{not json", "The file is not JSON"),
    ],
)
async def test_a_malformed_file_is_a_422_naming_its_first_bad_entry_and_imports_nothing(
    http: httpx.AsyncClient, document: Any, detail: str
) -> None:
    response = await import_file(http, document)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)
    assert await all_sessions(http) == []


async def test_a_file_over_max_import_mb_is_a_413(serve: ServeApp, make_settings: SettingsFactory) -> None:
    async with serve(make_settings(max_import_mb=0.001)) as http:
        response = await import_file(http, archive_of(*[FULL_SESSION] * 5))
        assert response.status_code == 413
        assert response.json()["detail"] == "The file is larger than 0.001 MB (MAX_IMPORT_MB)"
        assert await all_sessions(http) == []


async def test_exporting_an_unknown_session_is_a_404(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{API}/sessions/999/export")
    assert (response.status_code, response.json()) == (404, {"detail": "Session 999 not found"})


# --- ChatGPT's conversations.json -----------------------------------------------------------------


def node(
    node_id: str, parent: str | None, role: str | None, content: Any = None, **message: Any
) -> dict[str, Any]:
    """A node of a conversation's mapping; role None: a node without a message (the root)."""
    children: list[str] = []
    found = None
    if role is not None:
        found = {
            "id": node_id,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": 1764500000.0 + int(node_id.strip("n") or 0),
            "update_time": None,
            "content": content or {"content_type": "text", "parts": [""]},
            "status": "finished_successfully",
            "end_turn": True,
            "weight": 1.0,
            "metadata": message.pop("metadata", {}),
            "recipient": message.pop("recipient", "all"),
        }
    return {"id": node_id, "message": found, "parent": parent, "children": children}


def text(*parts: Any) -> dict[str, Any]:
    return {"content_type": "text", "parts": list(parts)}


def conversation(
    title: str, conversation_id: str, nodes: list[dict[str, Any]], current: str
) -> dict[str, Any]:
    for item in nodes:  # children, as the export has them
        if item["parent"] is not None:
            next(n for n in nodes if n["id"] == item["parent"])["children"].append(item["id"])
    return {
        "title": title,
        "create_time": 1764500000.5,
        "update_time": 1764500900.25,
        "mapping": {item["id"]: item for item in nodes},
        "moderation_results": [],
        "current_node": current,
        "plugin_ids": None,
        "conversation_id": conversation_id,
        "conversation_template_id": None,
        "gizmo_id": None,
        "is_archived": False,
        "safe_urls": [],
        "default_model_slug": "gpt-4o",
        "id": conversation_id,
    }


def chatgpt_export() -> list[dict[str, Any]]:
    """Two conversations: one with a regenerated reply (a branch), thoughts, a tool call, hidden parts."""
    trip = conversation(
        "Trip to Kyoto",
        "6740a1b2-0000-4000-8000-000000000001",
        [
            node("root", None, None),
            node("n1", "root", "system", text(""), metadata={"is_visually_hidden_from_conversation": True}),
            node("n2", "n1", "user", text("Plan two days in Kyoto")),
            node("n3", "n2", "assistant", text("First draft"), metadata={"model_slug": "gpt-4o"}),
            node(
                "n4",
                "n2",
                "assistant",
                {"content_type": "thoughts", "thoughts": [{"summary": "s", "content": "Temples first."}]},
            ),
            node(
                "n5",
                "n4",
                "assistant",
                {"content_type": "code", "language": "json", "text": "{}"},
                recipient="web",
            ),
            node("n6", "n5", "tool", text("search results")),
            node("n7", "n6", "assistant", text("Day 1: ", "Kinkaku-ji."), metadata={"model_slug": "o3"}),
            node(
                "n8",
                "n7",
                "user",
                {
                    "content_type": "multimodal_text",
                    "parts": [{"asset_pointer": "file-service://x"}, "And this photo?"],
                },
            ),
        ],
        "n8",
    )
    short = conversation(
        "你好",
        "6740a1b2-0000-4000-8000-000000000002",
        [
            node("root", None, None),
            node("n1", "root", "user", text("你好，世界")),
            node("n2", "n1", "assistant", text("你好！")),
        ],
        "n2",
    )
    return [trip, short]


async def test_chatgpts_export_is_imported_along_the_branch_last_seen(http: httpx.AsyncClient) -> None:
    response = await import_file(http, chatgpt_export(), name="conversations.json")
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == 2
    trip_id = response.json()["session_ids"][0]
    trip = (await http.get(f"{API}/sessions/{trip_id}")).json()
    assert (trip["title"], trip["provider"], trip["model"], trip["origin"]) == (
        "Trip to Kyoto",
        "openai",
        "gpt-4o",
        "chatgpt:6740a1b2-0000-4000-8000-000000000001",
    )
    assert (trip["created_at"], trip["updated_at"]) == (
        "2025-11-30T10:53:20.500000Z",
        "2025-11-30T11:08:20.250000Z",
    )
    assert [(m["role"], m["content"], m["thought_process"], m["model"]) for m in trip["messages"]] == [
        ("user", "Plan two days in Kyoto", None, None),
        ("assistant", "Day 1: \nKinkaku-ji.", "Temples first.", "o3"),
        ("user", "And this photo?", None, None),
    ]
    assert trip["messages"][0]["created_at"] == "2025-11-30T10:53:22Z"
    export = (await http.get(f"{API}/sessions/{trip_id}/export")).json()["sessions"][0]
    ids = [m["id"] for m in export["messages"]]
    assert [m["parent_id"] for m in export["messages"]] == [None, *ids[:-1]]
    again = (await import_file(http, chatgpt_export(), name="conversations.json")).json()
    assert (again["imported"], again["skipped"]) == (0, 2)
    hits = (await http.get(f"{API}/search", params={"q": "世界"})).json()
    assert [h["session_title"] for h in hits] == ["你好"]


@pytest.mark.parametrize(
    ("breaking", "detail"),
    [
        (
            lambda c: c[1]["mapping"]["n1"]["message"].pop("author"),
            "conversations[1].mapping.n1.message.author: Field required",
        ),
        (
            lambda c: c[1].update(current_node="gone"),
            "conversations[1]: node 'gone' names no node of mapping",
        ),
        (
            lambda c: c[1]["mapping"]["root"].update(parent="n2"),
            "conversations[1]: node 'n2' is its own ancestor",
        ),
        (lambda c: c[0].pop("create_time"), "conversations[0].create_time: Field required"),
    ],
)
async def test_a_malformed_chatgpt_export_is_a_422_naming_the_conversation_and_imports_nothing(
    http: httpx.AsyncClient, breaking: Any, detail: str
) -> None:
    document = chatgpt_export()
    breaking(document)
    response = await import_file(http, document, name="conversations.json")
    assert response.status_code == 422
    assert response.json()["detail"] == detail
    assert await all_sessions(http) == []


async def test_a_tree_of_branches_round_trips_with_its_current_leaf(
    http: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("first answer")), Reply(text_stream("second answer")))
    made = await http.post(f"{API}/chat", json=chat_body(stream=False, content="question"))
    session_id = made.json()["session_id"]
    detail = (await http.get(f"{API}/sessions/{session_id}")).json()
    question, answer = detail["messages"]
    again = await http.post(
        f"{API}/sessions/{session_id}/messages/{answer['id']}/regenerate", json={"stream": False}
    )
    assert again.status_code == 200, again.text
    # Show the first answer again: the archive must keep which branch the session shows.
    await http.put(f"{API}/sessions/{session_id}/leaf", json={"message_id": answer["id"]})
    (exported,) = (await http.get(f"{API}/sessions/{session_id}/export")).json()["sessions"]
    await http.delete(f"{API}/sessions/{session_id}")
    imported = await import_file(http, archive_of(exported))
    (new_id,) = imported.json()["session_ids"]
    tree = (await http.get(f"{API}/sessions/{new_id}/tree")).json()
    shape = {m["id"]: (m["parent_id"], m["content"]) for m in tree["messages"]}
    root = next(i for i, (parent, _) in shape.items() if parent is None)
    assert sorted(content for parent, content in shape.values() if parent == root) == [
        "first answer",
        "second answer",
    ]
    assert shape[tree["current_leaf_id"]][1] == "first answer"
    shown = (await http.get(f"{API}/sessions/{new_id}")).json()["messages"]
    assert [m["content"] for m in shown] == ["question", "first answer"]
