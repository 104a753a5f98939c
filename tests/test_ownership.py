"""AUTH_MODE=required: every route needs a credential, and one user never reaches another's data.

The walks are made from the app's own OpenAPI schema, so a route added later is walked too.
"""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import media_samples as samples
from tests.accounts import Account, required, secret, sign_up
from tests.conftest import ServeApp, SettingsFactory, chat_body
from tests.families import MODELS

pytestmark = pytest.mark.timeout(60)

ENCRYPTION_KEY = "fRY3l3k7Yc0dI7Q3bE3O1cE9Bq6p5u5rB0tJ3m1rP2k="
# Open to anyone whatever AUTH_MODE says.
PUBLIC = {"/health", "/api/v1/health", "/auth/signup", "/auth/signin", "/auth/sso", "/auth/refresh"}
# What a request to each route with path parameters carries, so that only the ids decide its answer.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/sessions/{session_id}"): {"title": "taken over"},
    ("POST", "/chats/{chat_id}/messages"): {"content": "B writes in A's chat"},
    ("PATCH", "/messages/{message_id}"): {"content": "B edits A's message"},
    ("PUT", "/api/v1/sessions/{session_id}/leaf"): {"message_id": 1},
    ("POST", "/api/v1/sessions/{session_id}/messages/{message_id}/edit"): {"content": "B's version"},
}


def settings_overrides() -> dict[str, Any]:
    return required(
        encryption_key=ENCRYPTION_KEY, default_provider="deepseek", default_model=MODELS["deepseek"]
    )


@pytest.fixture
async def api(serve: ServeApp, make_settings: SettingsFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(**settings_overrides())) as http:
        yield http


def operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in schema["paths"].items() for method in item]


def filled(path: str, ids: dict[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: str(ids[match.group(1)]), path)


@dataclass
class AliceData:
    """What user A holds: a session with messages, a simple chat, an upload, a vendor key and an API key."""

    session_id: int
    user_message_id: int
    reply_id: int
    chat_id: str
    upload: str
    vendor_key_id: int
    api_key_id: int

    def ids_for(self, path: str) -> dict[str, Any]:
        """A's ids for the path parameters of `path` (one parameter name means different ids per family)."""
        chat = self.session_id if path.startswith("/chats/") else self.chat_id
        key = self.api_key_id if path.startswith("/auth/api-keys/") else self.vendor_key_id
        return {"session_id": self.session_id, "message_id": self.reply_id, "chat_id": chat, "key_id": key}


async def alice_data(http: httpx.AsyncClient, alice: Account) -> AliceData:
    headers = alice.headers
    turn = await http.post("/api/v1/chat", json=chat_body(stream=False), headers=headers)
    assert turn.status_code == 200, turn.text
    session_id = turn.json()["session_id"]
    detail = (await http.get(f"/api/v1/sessions/{session_id}", headers=headers)).json()
    simple = await http.post("/chat", json={"message": "hello", "chat_id": "alice-chat"}, headers=headers)
    assert simple.status_code == 200, simple.text
    upload = await http.post("/api/v1/upload", files={"file": ("a.png", samples.png())}, headers=headers)
    key = await http.post(
        "/user/keys",
        json={"provider": "deepseek", "api_key": secret("sk-alice-own-key-1234")},
        headers=headers,
    )
    api_key = await http.post("/auth/api-keys", json={"name": "alice's script"}, headers=headers)
    secret(api_key.json()["key"])
    return AliceData(
        session_id=session_id,
        user_message_id=detail["messages"][0]["id"],
        reply_id=detail["messages"][1]["id"],
        chat_id="alice-chat",
        upload=upload.json()["url"],
        vendor_key_id=key.json()["id"],
        api_key_id=api_key.json()["id"],
    )


async def alice_view(http: httpx.AsyncClient, alice: Account, data: AliceData) -> list[Any]:
    """Everything of A's, as A reads it."""
    reads = [
        f"/api/v1/sessions/{data.session_id}",
        "/api/v1/sessions",
        f"/chat/history/{data.chat_id}",
        "/user/keys",
        "/auth/api-keys",
    ]
    answers = [await http.get(path, headers=alice.headers) for path in reads]
    assert all(answer.status_code == 200 for answer in answers)
    upload = await http.get(data.upload, headers=alice.headers)
    return [answer.json() for answer in answers] + [upload.status_code, upload.content]


async def test_every_route_but_health_and_signing_in_needs_a_credential(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    walked = 0
    for method, path in operations(schema):
        if path in PUBLIC:
            continue
        url = filled(
            path, {"session_id": 1, "message_id": 1, "chat_id": 1, "key_id": 1, "model": "openai/gpt-4o"}
        )
        answer = await api.request(method, url)
        assert answer.status_code == 401, (method, path, answer.status_code, answer.text)
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="api"', (method, path)
        walked += 1
    assert walked >= 30  # the walk reached the whole API, not an empty schema
    assert (await api.get("/uploads/anything.png")).status_code == 401
    assert (await api.get("/health")).status_code == 200


async def test_user_b_meets_a_404_on_every_route_that_names_one_of_user_as_ids(
    api: httpx.AsyncClient,
) -> None:
    alice, bob = await sign_up(api, "alice"), await sign_up(api, "bob")
    data = await alice_data(api, alice)
    before = await alice_view(api, alice, data)
    schema = (await api.get("/openapi.json")).json()
    walked = []
    for method, path in operations(schema):
        ids = data.ids_for(path)
        if not set(re.findall(r"\{(\w+)\}", path)) & ids.keys():
            continue  # names nothing of A's (no parameter, or a model's name)
        url = filled(path, ids)
        answer = await api.request(method, url, json=BODIES.get((method, path)), headers=bob.headers)
        assert answer.status_code == 404, (method, url, answer.status_code, answer.text)
        walked.append((method, path))
    assert len(walked) >= 15
    # B's upload request for A's file, and B's truncation from A's first message.
    assert (await api.get(data.upload, headers=bob.headers)).status_code == 404
    truncate = f"/api/v1/sessions/{data.session_id}/truncate/{data.user_message_id}"
    assert (await api.delete(truncate, headers=bob.headers)).status_code == 404
    assert await alice_view(api, alice, data) == before


async def test_user_b_cannot_chat_in_user_as_session_nor_send_user_as_upload(api: httpx.AsyncClient) -> None:
    alice, bob = await sign_up(api, "alice"), await sign_up(api, "bob")
    data = await alice_data(api, alice)
    before = await alice_view(api, alice, data)
    into = await api.post(
        "/api/v1/chat", json=chat_body(stream=False, session_id=data.session_id), headers=bob.headers
    )
    assert (into.status_code, into.json()["detail"]) == (404, f"Session {data.session_id} not found")
    # Streamed, the refusal comes before the stream: nothing of B's is stored in A's session.
    streamed = await api.post("/api/v1/chat", json=chat_body(session_id=data.session_id), headers=bob.headers)
    assert (streamed.status_code, streamed.json()["detail"]) == (404, f"Session {data.session_id} not found")
    image = chat_body(stream=False)
    image["messages"][0]["images"] = [data.upload]
    sent = await api.post("/api/v1/chat", json=image, headers=bob.headers)
    assert (sent.status_code, sent.json()["detail"]) == (400, f"Uploaded file not found: {data.upload}")
    # A chat id is a name within one user's chats: B's "alice-chat" is a chat of B's own.
    simple = await api.post("/chat", json={"message": "mine", "chat_id": data.chat_id}, headers=bob.headers)
    assert simple.status_code == 200
    history = (await api.get(f"/chat/history/{data.chat_id}", headers=bob.headers)).json()
    assert [m["content"] for m in history["history"]["messages"]][0] == "mine"
    assert await alice_view(api, alice, data) == before


async def test_deleting_all_sessions_deletes_only_the_callers(api: httpx.AsyncClient) -> None:
    alice, bob = await sign_up(api, "alice"), await sign_up(api, "bob")
    data = await alice_data(api, alice)
    await api.post("/api/v1/chat", json=chat_body(stream=False), headers=bob.headers)
    assert (await api.delete("/api/v1/sessions", headers=bob.headers)).status_code == 204
    assert (await api.get("/api/v1/sessions", headers=bob.headers)).json() == []
    mine = await api.get("/api/v1/sessions", headers=alice.headers)
    assert mine.headers["X-Total-Count"] == "2"
    assert data.session_id in [session["id"] for session in mine.json()]


async def test_data_made_with_auth_off_is_handed_to_an_account_by_an_admin(
    serve: ServeApp, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    async with serve(make_settings()) as http:
        made = await http.post("/api/v1/chat", json=chat_body(stream=False))
        upload = (await http.post("/api/v1/upload", files={"file": ("a.png", samples.png())})).json()["url"]
    session_id = made.json()["session_id"]
    async with serve(make_settings(**settings_overrides())) as http:
        admin, bob = await sign_up(http, "admin"), await sign_up(http, "bob")
        assert (await http.get(f"/api/v1/sessions/{session_id}", headers=admin.headers)).status_code == 404
        refused = await http.post("/auth/admin/transfer", json={"to_user_id": bob.id}, headers=bob.headers)
        assert refused.status_code == 403
        moved = await http.post("/auth/admin/transfer", json={"to_user_id": admin.id}, headers=admin.headers)
        assert moved.json() == {"sessions_moved": 1}
        detail = await http.get(f"/api/v1/sessions/{session_id}", headers=admin.headers)
        served = await http.get(upload, headers=admin.headers)
    assert [m["role"] for m in detail.json()["messages"]] == ["user", "assistant"]
    assert (served.status_code, served.content) == (200, samples.png())


async def test_the_openapi_schema_in_required_mode_is_the_same_set_of_routes(
    api: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    required_schema, off_schema = (
        (await api.get("/openapi.json")).json(),
        (await client.get("/openapi.json")).json(),
    )
    assert operations(required_schema) == operations(off_schema)
    # Required mode tells Swagger UI which operations take the bearer credential; off mode has none.
    secured = {
        (method.upper(), path)
        for path, item in required_schema["paths"].items()
        for method, operation in item.items()
        if operation.get("security") == [{"bearer": []}]
    }
    public = {("GET", "/health"), ("GET", "/api/v1/health")}
    public |= {("POST", f"/auth/{name}") for name in ("signup", "signin", "sso", "refresh")}
    assert set(operations(required_schema)) - secured == public
    assert "securitySchemes" not in off_schema["components"]
