"""The simple chat API at the root (POST /chat, the histories, deletion) over the main API's sessions;
SYSTEM_PROMPT_FILE; the prefixed /health and /help."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from pydantic import ValidationError

import database
from config import Settings
from tests.conftest import ServeApp, SettingsFactory
from tests.fakes.ollama_vendor import MODEL, FakeOllamaVendor, Reply, text_lines
from tests.fakes.openai_vendor import FakeOpenAIVendor

pytestmark = pytest.mark.timeout(30)

ENDPOINTS = [
    {"path": "/health", "description": "Checks the health of the endpoint"},
    {"path": "/chat", "description": "Chat with LLM using selected provider", "method": "POST"},
    {"path": "/chat/history", "description": "Get chat history", "method": "GET"},
    {"path": "/chat/history/{chat_id}", "description": "Get specific chat history", "method": "GET"},
    {"path": "/chat/delete/{chat_id}", "description": "Delete specific chat", "method": "DELETE"},
]
SAMPLE_REPLY = "Hello! How can I help?"  # ollama-chat.ndjson's text


@pytest.fixture
def prompt_file(tmp_path: Path) -> Path:
    return tmp_path / "system_prompt.txt"


@pytest.fixture
def simple_settings(make_settings: SettingsFactory, ollama: FakeOllamaVendor) -> SettingsFactory:
    """Settings whose default provider is Ollama, on the fake, with a model it has pulled."""

    def build(**overrides: Any) -> Settings:
        return make_settings(**{"ollama_base_url": ollama.url, "default_model": MODEL, **overrides})

    return build


@pytest.fixture
async def api(simple_settings: SettingsFactory, serve: ServeApp) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(simple_settings()) as http:
        yield http


async def say(http: httpx.AsyncClient, message: str, chat_id: str | None = None) -> httpx.Response:
    body = {"message": message} if chat_id is None else {"message": message, "chat_id": chat_id}
    return await http.post("/chat", json=body)


def sent_messages(ollama: FakeOllamaVendor) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = ollama.last.body["messages"]
    return messages


async def test_the_root_names_the_api_and_lists_its_endpoints(api: httpx.AsyncClient) -> None:
    response = await api.get("/")
    assert response.status_code == 200
    assert response.json() == {
        "app_name": "Lite-LLM-Chat Backend",
        "version": "1.0.0",
        "endpoints": ENDPOINTS,
    }


async def test_a_new_chat_gets_a_uuid_and_is_answered_by_the_default_provider_and_model(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    response = await say(api, "Tell me a fun fact about space")
    assert response.status_code == 200
    answer = response.json()
    assert answer == {"response": SAMPLE_REPLY, "chat_id": answer["chat_id"], "success": True}
    assert str(uuid.UUID(answer["chat_id"])) == answer["chat_id"]
    assert (ollama.last.body["model"], sent_messages(ollama)) == (
        MODEL,
        [{"role": "user", "content": "Tell me a fun fact about space"}],
    )
    (session,) = (await api.get("/api/v1/sessions")).json()
    assert (session["chat_id"], session["provider"], session["model"]) == (answer["chat_id"], "ollama", MODEL)
    assert (session["title"], session["message_count"]) == ("Tell me a fun fact about space", 2)


async def test_a_custom_chat_id_starts_a_chat_that_the_next_message_continues(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    ollama.queue(Reply(text_lines("UY Scuti is huge.")), Reply(text_lines("Stars fuse hydrogen.")))
    first = await say(api, "Tell me a fun fact about space", "space-facts")
    second = await say(api, "Tell me more about stars", "space-facts")
    assert first.json() == {"response": "UY Scuti is huge.", "chat_id": "space-facts", "success": True}
    assert second.json() == {"response": "Stars fuse hydrogen.", "chat_id": "space-facts", "success": True}
    assert sent_messages(ollama) == [
        {"role": "user", "content": "Tell me a fun fact about space"},
        {"role": "assistant", "content": "UY Scuti is huge."},
        {"role": "user", "content": "Tell me more about stars"},
    ]
    history = (await api.get("/chat/history/space-facts")).json()
    assert (history["chat_id"], history["success"]) == ("space-facts", True)
    messages = history["history"]["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "Tell me a fun fact about space"),
        ("assistant", "UY Scuti is huge."),
        ("user", "Tell me more about stars"),
        ("assistant", "Stars fuse hydrogen."),
    ]
    stamps = [datetime.fromisoformat(m["timestamp"]) for m in messages]
    created, updated = (
        datetime.fromisoformat(history["history"][key]) for key in ("created_at", "last_updated")
    )
    assert created <= stamps[0] <= stamps[-1] <= updated
    listing = (await api.get("/chat/history")).json()
    assert listing == {
        "chats": {
            "space-facts": {
                "created_at": history["history"]["created_at"],
                "last_updated": history["history"]["last_updated"],
                "message_count": 4,
            }
        },
        "success": True,
    }


async def test_a_chat_made_here_is_a_session_there_and_what_is_said_there_shows_here(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    await say(api, "one", "shared_1")
    (session,) = (await api.get("/api/v1/sessions")).json()
    turn = {"session_id": session["id"], "provider": "ollama", "model": MODEL, "stream": False}
    answer = await api.post("/api/v1/chat", json={**turn, "messages": [{"role": "user", "content": "two"}]})
    assert answer.status_code == 200
    messages = (await api.get("/chat/history/shared_1")).json()["history"]["messages"]
    assert [m["content"] for m in messages] == ["one", SAMPLE_REPLY, "two", SAMPLE_REPLY]
    sessions_made_there = await api.post("/api/v1/sessions", json={"provider": "ollama", "model": MODEL})
    assert sessions_made_there.json()["chat_id"] is None
    assert list((await api.get("/chat/history")).json()["chats"]) == ["shared_1"]


@pytest.mark.parametrize(
    ("chat_id", "rule"),
    [
        ("space facts", "it cannot contain spaces; it may hold letters a-z and A-Z, digits 0-9, dashes (-)"),
        ("facts\tnow", "it cannot contain spaces"),
        ("facts!", "it cannot contain special characters ('!')"),
        ("a.b,c", "it cannot contain special characters (',', '.')"),
        ("café", "it cannot contain special characters ('é')"),
        ("x" * 101, "it is longer than 100 characters"),
    ],
)
async def test_a_chat_id_that_breaks_a_rule_is_a_400_naming_the_rule(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor, chat_id: str, rule: str
) -> None:
    in_path = quote(chat_id, safe="")
    answers = [
        await say(api, "hi", chat_id),
        await api.get(f"/chat/history/{in_path}"),
        await api.delete(f"/chat/delete/{in_path}"),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"].startswith(f"Invalid chat_id: {rule}")
    assert not ollama.requests
    assert (await api.get("/api/v1/sessions")).json() == []


@pytest.mark.parametrize("chat_id", ["space-facts", "project_2023", "customer123", "A-" * 50])
async def test_chat_ids_that_keep_the_rules_are_taken(api: httpx.AsyncClient, chat_id: str) -> None:
    assert (await say(api, "hi", chat_id)).json()["chat_id"] == chat_id


async def test_an_empty_chat_id_starts_a_new_chat(api: httpx.AsyncClient) -> None:
    first, second = (await say(api, "hi", ""), await say(api, "hi", ""))
    assert first.status_code == second.status_code == 200
    assert first.json()["chat_id"] != second.json()["chat_id"]


async def test_an_unknown_chat_is_a_404(api: httpx.AsyncClient) -> None:
    for answer in (await api.get("/chat/history/nope"), await api.delete("/chat/delete/nope")):
        assert (answer.status_code, answer.json()["detail"]) == (404, "Chat nope not found")


async def test_deleting_a_chat_deletes_its_session(api: httpx.AsyncClient) -> None:
    await say(api, "hi", "space-facts")
    await say(api, "hi", "other")
    deleted = await api.delete("/chat/delete/space-facts")
    assert deleted.json() == {"message": "Chat space-facts deleted successfully", "success": True}
    assert (await api.get("/chat/history/space-facts")).status_code == 404
    assert list((await api.get("/chat/history")).json()["chats"]) == ["other"]
    assert [s["chat_id"] for s in (await api.get("/api/v1/sessions")).json()] == ["other"]


async def test_first_messages_to_one_new_chat_id_at_once_make_one_chat(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    answers = await asyncio.gather(*(say(api, f"message {n}", "race") for n in range(4)))
    assert [answer.status_code for answer in answers] == [200] * 4
    (session,) = (await api.get("/api/v1/sessions")).json()
    assert (session["chat_id"], session["message_count"]) == ("race", 8)


async def test_a_message_that_finds_its_new_chat_made_meanwhile_goes_on_in_it(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    await say(api, "one", "race")
    # The next lookup misses the chat, as it would were the chat made just after it: the new
    # session's chat id is then taken, and the message goes to the chat that holds it.
    real = database.session_by_chat_id
    misses = iter([None])
    monkeypatch.setattr(
        database, "session_by_chat_id", lambda db, chat_id, user: next(misses, real(db, chat_id, user))
    )
    answer = await say(api, "two", "race")
    assert (answer.status_code, answer.json()["chat_id"]) == (200, "race")
    assert [m["content"] for m in sent_messages(ollama)] == ["one", SAMPLE_REPLY, "two"]
    (session,) = (await api.get("/api/v1/sessions")).json()
    assert (session["chat_id"], session["message_count"]) == ("race", 4)


# --- SYSTEM_PROMPT_FILE -------------------------------------------------------------------------


async def test_the_system_prompt_file_is_new_sessions_prompt_and_is_read_again_when_it_changes(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor, prompt_file: Path
) -> None:
    await anyio.Path(prompt_file).write_text("Be terse.\n")
    await say(api, "first chat", "first")
    assert sent_messages(ollama)[0] == {"role": "system", "content": "Be terse."}
    await anyio.Path(prompt_file).write_text("Réponds en français, s'il te plaît.")
    await say(api, "second chat", "second")
    assert sent_messages(ollama)[0] == {"role": "system", "content": "Réponds en français, s'il te plaît."}
    # A chat keeps the prompt it began with.
    await say(api, "first chat again", "first")
    assert sent_messages(ollama)[0] == {"role": "system", "content": "Be terse."}
    history = (await api.get("/chat/history/first")).json()["history"]["messages"]
    assert history[0] == {"role": "system", "content": "Be terse."}
    assert (await api.get("/chat/history")).json()["chats"]["first"]["message_count"] == 5


async def test_the_system_prompt_file_applies_to_the_main_apis_new_sessions_that_give_none(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor, prompt_file: Path
) -> None:
    await anyio.Path(prompt_file).write_text("From the file.")
    made = {"provider": "ollama", "model": MODEL}
    assert (await api.post("/api/v1/sessions", json=made)).json()["system_prompt"] == "From the file."
    given = await api.post("/api/v1/sessions", json={**made, "system_prompt": "Given."})
    assert given.json()["system_prompt"] == "Given."
    turn = {**made, "stream": False, "messages": [{"role": "user", "content": "hi"}]}
    await api.post("/api/v1/chat", json=turn)
    assert sent_messages(ollama)[0] == {"role": "system", "content": "From the file."}
    await api.post("/api/v1/chat", json={**turn, "system_prompt": ""})
    assert sent_messages(ollama)[0]["role"] == "user"  # an empty prompt given is no prompt
    await anyio.Path(prompt_file).unlink()
    await say(api, "without the file")
    assert sent_messages(ollama)[0]["role"] == "user"


# --- the default provider -----------------------------------------------------------------------


async def test_a_default_model_not_pulled_is_a_404_saying_ollama_pull(
    simple_settings: SettingsFactory, serve: ServeApp
) -> None:
    async with serve(simple_settings(default_model="llama3.1:8b-instruct-q8_0")) as http:
        answer = await say(http, "hi")
        assert (await http.get("/api/v1/sessions")).json()[0]["chat_id"] is not None
    assert answer.status_code == 404
    assert answer.json()["detail"].endswith("(run `ollama pull llama3.1:8b-instruct-q8_0`)")


async def test_without_an_ollama_server_a_chat_is_a_400_naming_ollama_base_url(
    simple_settings: SettingsFactory, ollama: FakeOllamaVendor, serve: ServeApp
) -> None:
    ollama.answering = False
    async with serve(simple_settings()) as http:
        answer = await say(http, "hi", "kept-out")
        assert (await http.get("/chat/history")).json()["chats"] == {}
    assert answer.status_code == 400
    assert "set the OLLAMA_BASE_URL environment variable" in answer.json()["detail"]


async def test_the_default_provider_can_be_any_vendor(
    simple_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    async with serve(simple_settings(default_provider="deepseek", default_model="deepseek-chat")) as http:
        answer = await say(http, "hi")
    assert answer.json()["response"] == "Hello world"
    assert vendor.requests[-1].body["model"] == "deepseek-chat"


# --- /health and /help under API_PREFIX ---------------------------------------------------------


async def test_the_prefixed_health_names_the_configured_providers(
    simple_settings: SettingsFactory, serve: ServeApp
) -> None:
    async with serve(simple_settings(deepseek_api_key=None)) as http:
        health = (await http.get("/api/v1/health")).json()
        root = (await http.get("/health")).json()
    assert {key: health[key] for key in ("status", "version", "database", "response_code")} == {
        "status": "ok",
        "version": "1.0.0",
        "database": True,
        "response_code": 200,
    }
    assert root.keys() == health.keys() - {"providers"}
    assert "ollama" in health["providers"] and "gemini" in health["providers"]
    assert "deepseek" not in health["providers"]


async def test_help_gives_the_configured_providers_with_their_models_and_how_to_configure_the_others(
    simple_settings: SettingsFactory, serve: ServeApp
) -> None:
    async with serve(simple_settings(deepseek_api_key=None)) as http:
        response = await http.get("/api/v1/help")
    assert response.status_code == 200
    help_ = response.json()
    assert (help_["app_name"], help_["docs"], help_["api_prefix"]) == (
        "Lite-LLM-Chat Backend",
        "/docs",
        "/api/v1",
    )
    providers = {p["id"]: p for p in help_["providers"]}
    assert [m["id"] for m in providers["ollama"]["models"]] == ["qwen3:8b", "llava:7b"]
    assert "deepseek" not in providers
    assert {
        "id": "deepseek",
        "name": "DeepSeek",
        "remedy": "set the DEEPSEEK_API_KEY environment variable",
    } in (help_["not_configured"])


@pytest.mark.parametrize(("given", "kept"), [("/api/v2/", "/api/v2"), ("/v2", "/v2")])
def test_the_api_prefix_is_kept_below_the_root(given: str, kept: str) -> None:
    assert Settings(_env_file=None, api_prefix=given).api_prefix == kept  # type: ignore[call-arg]


@pytest.mark.parametrize("given", ["/", "api/v1", "/v1"])  # /v1 is the OpenAI-compatible front door's
def test_an_api_prefix_at_the_root_is_refused_naming_it(given: str) -> None:
    with pytest.raises(ValidationError, match="api_prefix"):
        Settings(_env_file=None, api_prefix=given)  # type: ignore[call-arg]
