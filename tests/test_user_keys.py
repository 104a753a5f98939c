"""A user's own vendor keys: encrypted at rest, never shown, and the key their chats are sent with."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from config import load_settings
from tests.accounts import Account, account, required, secret, sign_up
from tests.conftest import ServeApp, SettingsFactory, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor

pytestmark = pytest.mark.timeout(60)

OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
ALICE_KEY = secret("sk-alice-" + "7" * 24 + "WXYZ")


@pytest.fixture
async def api(serve: ServeApp, make_settings: SettingsFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(**required(encryption_key=OLD_KEY))) as http:
        yield http


async def store_key(http: httpx.AsyncClient, who: Account, key: str = ALICE_KEY) -> httpx.Response:
    return await http.post("/user/keys", json={"provider": "deepseek", "api_key": key}, headers=who.headers)


async def sent_key(http: httpx.AsyncClient, vendor: FakeOpenAIVendor, who: Account, **fields: Any) -> str:
    """The API key the vendor received for a chat turn of `who`."""
    answer = await http.post("/api/v1/chat", json=chat_body(stream=False, **fields), headers=who.headers)
    assert answer.status_code == 200, answer.text
    return vendor.requests[-1].headers["authorization"].removeprefix("Bearer ")


def database_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in folder.glob("chat.db*"))


async def test_a_stored_key_is_shown_masked_and_the_database_holds_no_plaintext(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    alice = await sign_up(api, "alice")
    stored = await store_key(api, alice)
    assert stored.status_code == 201
    assert stored.json()["masked_key"] == "****WXYZ" and stored.json()["provider"] == "deepseek"
    listed = (await api.get("/user/keys", headers=alice.headers)).json()
    assert [(k["id"], k["masked_key"]) for k in listed] == [(stored.json()["id"], "****WXYZ")]
    assert ALICE_KEY not in stored.text + str(listed)
    contents = database_bytes(tmp_path)
    assert ALICE_KEY.encode() not in contents
    assert b"gAAAAA" in contents  # a Fernet token is stored in its place


async def test_a_users_own_key_wins_over_the_operators_for_that_users_chats_only(
    api: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    alice, bob = await sign_up(api, "alice"), await sign_up(api, "bob")
    await store_key(api, alice)
    assert await sent_key(api, vendor, alice) == ALICE_KEY
    assert await sent_key(api, vendor, bob) == "test-key"
    # The same key serves the user's later turns in that session, and a continued reply.
    again = await sent_key(api, vendor, alice, message_provider="deepseek")
    assert again == ALICE_KEY


async def test_a_replaced_or_deleted_key_is_no_longer_sent(
    api: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    alice = await sign_up(api, "alice")
    await store_key(api, alice)
    newer = secret("sk-alice-newer-" + "3" * 20)
    replaced = await store_key(api, alice, newer)
    assert len((await api.get("/user/keys", headers=alice.headers)).json()) == 1
    assert await sent_key(api, vendor, alice) == newer
    deleted = await api.delete(f"/user/keys/{replaced.json()['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert await sent_key(api, vendor, alice) == "test-key"
    gone = await api.delete(f"/user/keys/{replaced.json()['id']}", headers=alice.headers)
    assert (gone.status_code, gone.json()["detail"]) == (404, f"Vendor key {replaced.json()['id']} not found")


async def test_without_operator_keys_a_user_without_one_is_told_how_to_add_theirs(
    serve: ServeApp, make_settings: SettingsFactory, vendor: FakeOpenAIVendor
) -> None:
    async with serve(make_settings(**required(encryption_key=OLD_KEY, allow_operator_keys=False))) as http:
        alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
        await store_key(http, alice)
        refused = await http.post("/api/v1/chat", json=chat_body(stream=False), headers=bob.headers)
        assert await sent_key(http, vendor, alice) == ALICE_KEY
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "You have no API key of your own for provider 'deepseek': add one with POST /user/keys "
        "(this server does not lend its own keys: ALLOW_OPERATOR_KEYS is off)"
    )
    assert len(vendor.requests) == 1  # Bob's turn never reached the vendor


async def test_keys_stored_under_an_old_encryption_key_still_work_after_rotation(
    serve: ServeApp, make_settings: SettingsFactory, vendor: FakeOpenAIVendor
) -> None:
    async with serve(make_settings(**required(encryption_key=OLD_KEY))) as http:
        alice = await sign_up(http, "alice")
        await store_key(http, alice)
    async with serve(make_settings(**required(encryption_key=f"{NEW_KEY},{OLD_KEY}"))) as http:
        assert await sent_key(http, vendor, alice) == ALICE_KEY
    # Once the old key is dropped, the key stored under it can no longer be read: it must be stored again.
    async with serve(make_settings(**required(encryption_key=NEW_KEY))) as http:
        unreadable = await http.post("/api/v1/chat", json=chat_body(stream=False), headers=alice.headers)
        assert unreadable.status_code == 500
        assert "cannot be decrypted with ENCRYPTION_KEY; store it again" in unreadable.json()["detail"]
        await store_key(http, alice)
        assert await sent_key(http, vendor, alice) == ALICE_KEY


async def test_storing_a_key_needs_an_encryption_key_and_a_vendor_that_takes_one(
    serve: ServeApp, make_settings: SettingsFactory
) -> None:
    async with serve(make_settings(**required())) as http:
        alice = await sign_up(http, "alice")
        unencrypted = await store_key(http, alice)
    async with serve(make_settings(**required(encryption_key=OLD_KEY))) as http:
        alice = await http_signed_in(http, alice)
        ollama = await http.post(
            "/user/keys", json={"provider": "ollama", "api_key": "x"}, headers=alice.headers
        )
        unknown = await http.post(
            "/user/keys", json={"provider": "nope", "api_key": "x"}, headers=alice.headers
        )
    assert (unencrypted.status_code, unencrypted.json()["detail"]) == (
        400,
        "Storing vendor keys needs ENCRYPTION_KEY (a Fernet key) to be set on the server",
    )
    assert (ollama.status_code, ollama.json()["detail"]) == (
        400,
        "Provider 'ollama' (Ollama) takes no API key",
    )
    assert unknown.status_code == 400 and "nope" in unknown.json()["detail"]


async def http_signed_in(http: httpx.AsyncClient, who: Account) -> Account:
    answer = await http.post("/auth/signin", json={"email": who.email, "password": who.password})
    return account(answer.json(), who.email, who.password)


def test_an_encryption_key_that_is_not_a_fernet_key_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_KEY", f"{OLD_KEY},not-a-key")
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    message = str(stopped.value)
    assert "ENCRYPTION_KEY: Value error, key 2 is not a Fernet key" in message
    # The keys are secrets: the message names the bad one by its place, never by its value.
    assert "not-a-key" not in message and OLD_KEY not in message
