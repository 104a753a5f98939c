"""Accounts and credentials through the HTTP API: sign-up, sign-in, refresh, logout, API keys, limits."""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest

from app_factory import create_app
from tests.accounts import SECRET_KEY, Account, account, required, secret, sign_up
from tests.conftest import ServeApp, SettingsFactory

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def api(serve: ServeApp, make_settings: SettingsFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(**required(signin_max_failures=3))) as http:
        yield http


def unauthorized(answer: httpx.Response) -> bool:
    return answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_first_account_is_an_admin_and_the_next_is_not(api: httpx.AsyncClient) -> None:
    ada, bob = await sign_up(api, "ada"), await sign_up(api, "bob")
    sessions = [(await api.get("/auth/session", headers=who.headers)).json() for who in (ada, bob)]
    assert sessions == [
        {"user": {"id": ada.id, "email": "ada@example.com", "is_admin": True}, "auth_mode": "required"},
        {"user": {"id": bob.id, "email": "bob@example.com", "is_admin": False}, "auth_mode": "required"},
    ]
    # The local user holds id 1: accounts start after it.
    assert 1 < ada.id < bob.id


async def test_an_email_signs_up_once_whatever_its_case(api: httpx.AsyncClient) -> None:
    await sign_up(api, "ada")
    again = await api.post("/auth/signup", json={"email": "ADA@example.com", "password": "another password"})
    assert again.status_code == 409
    assert again.json()["detail"] == "An account with the email ADA@example.com already exists"


async def test_signing_up_can_be_turned_off(serve: ServeApp, make_settings: SettingsFactory) -> None:
    async with serve(make_settings(**required(allow_signup=False))) as http:
        answer = await http.post("/auth/signup", json={"email": "ada@example.com", "password": "long enough"})
    assert answer.status_code == 403
    assert "ALLOW_SIGNUP" in answer.json()["detail"]


async def test_a_short_password_or_a_bad_email_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    short = await api.post("/auth/signup", json={"email": "ada@example.com", "password": "short"})
    email = await api.post("/auth/signup", json={"email": "not an email", "password": "long enough"})
    assert (short.status_code, short.json()["detail"][0]["loc"]) == (422, ["body", "password"])
    assert (email.status_code, email.json()["detail"][0]["loc"]) == (422, ["body", "email"])


async def test_signing_in_gives_tokens_that_work_and_a_wrong_password_gives_a_401(
    api: httpx.AsyncClient,
) -> None:
    ada = await sign_up(api, "ada")
    wrong = await api.post("/auth/signin", json={"email": ada.email, "password": "not the password"})
    unknown = await api.post(
        "/auth/signin", json={"email": "who@example.com", "password": "not the password"}
    )
    right = await api.post("/auth/signin", json={"email": ada.email, "password": ada.password})
    assert unauthorized(wrong) and unauthorized(unknown)
    assert wrong.json()["detail"] == unknown.json()["detail"] == "Wrong email or password"
    assert right.status_code == 200
    again = account(right.json(), ada.email, ada.password)
    assert (await api.get("/api/v1/sessions", headers=again.headers)).status_code == 200


async def test_the_password_is_stored_as_an_argon2_hash(api: httpx.AsyncClient, tmp_path: Path) -> None:
    ada = await sign_up(api, "ada")
    stored = (tmp_path / "chat.db").read_bytes() + (tmp_path / "chat.db-wal").read_bytes()
    assert b"$argon2id$" in stored
    assert ada.password.encode() not in stored


async def test_logging_out_revokes_the_access_and_the_refresh_token(api: httpx.AsyncClient) -> None:
    ada = await sign_up(api, "ada")
    other = account(
        (await api.post("/auth/signin", json={"email": ada.email, "password": ada.password})).json(),
        ada.email,
        ada.password,
    )
    assert (await api.post("/auth/logout", headers=ada.headers)).status_code == 204
    assert unauthorized(await api.get("/auth/session", headers=ada.headers))
    assert unauthorized(await api.post("/auth/refresh", json={"refresh_token": ada.refresh_token}))
    # Another sign-in of the same account is not logged out with it.
    assert (await api.get("/auth/session", headers=other.headers)).status_code == 200


async def test_a_refresh_token_gives_a_new_access_token(api: httpx.AsyncClient) -> None:
    ada = await sign_up(api, "ada")
    refreshed = await api.post("/auth/refresh", json={"refresh_token": ada.refresh_token})
    assert refreshed.status_code == 200
    token = secret(refreshed.json()["access_token"])
    answer = await api.get("/auth/session", headers={"Authorization": f"Bearer {token}"})
    assert answer.json()["user"]["id"] == ada.id
    # A refresh token is not an access token, nor the other way round.
    assert unauthorized(
        await api.get("/auth/session", headers={"Authorization": f"Bearer {ada.refresh_token}"})
    )
    assert unauthorized(await api.post("/auth/refresh", json={"refresh_token": ada.access_token}))


def forged(ada: Account, **changes: object) -> str:
    """Ada's access token with its claims changed, signed with `key` (the service's by default)."""
    claims = jwt.decode(ada.access_token, options={"verify_signature": False})
    key = str(changes.pop("key", SECRET_KEY))
    return secret(jwt.encode({**claims, **changes}, key, algorithm="HS256"))


async def test_a_tampered_expired_or_foreign_token_is_a_401(api: httpx.AsyncClient) -> None:
    ada, bob = await sign_up(api, "ada"), await sign_up(api, "bob")
    header, payload, signature = ada.access_token.split(".")
    other_payload = bob.access_token.split(".")[1]
    past = datetime.now(UTC) - timedelta(minutes=1)
    tokens = {
        "tampered signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "another payload under Ada's signature": f"{header}.{other_payload}.{signature}",
        "expired": forged(ada, exp=past),
        "signed with another key": forged(ada, key="not-the-service-secret-0123456789", sub=str(bob.id)),
        "another user's id in Ada's sign-in": forged(ada, sub=str(bob.id)),
        "no JWT at all": "garbage",
        "an API key never issued": "lk-" + "x" * 43,
    }
    for case, token in tokens.items():
        answer = await api.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
        assert unauthorized(answer), case
    expired = await api.get("/api/v1/sessions", headers={"Authorization": f"Bearer {tokens['expired']}"})
    assert expired.json()["detail"] == "The token has expired; sign in again or refresh it"


async def test_an_api_key_works_until_it_is_revoked_and_only_its_hash_is_stored(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    ada = await sign_up(api, "ada")
    made = await api.post("/auth/api-keys", json={"name": "laptop script"}, headers=ada.headers)
    assert made.status_code == 201
    key = secret(made.json()["key"])
    assert key.startswith("lk-") and made.json()["tail"] == key[-4:]
    with_key = {"Authorization": f"Bearer {key}"}
    assert (await api.get("/auth/session", headers=with_key)).json()["user"]["id"] == ada.id
    listed = (await api.get("/auth/api-keys", headers=ada.headers)).json()
    assert [(k["id"], k["name"], "key" in k) for k in listed] == [(made.json()["id"], "laptop script", False)]
    stored = (tmp_path / "chat.db").read_bytes() + (tmp_path / "chat.db-wal").read_bytes()
    assert key.encode() not in stored
    revoked = await api.delete(f"/auth/api-keys/{made.json()['id']}", headers=ada.headers)
    assert revoked.status_code == 204
    assert unauthorized(await api.get("/auth/session", headers=with_key))


async def test_failed_sign_ins_are_limited_per_account(api: httpx.AsyncClient) -> None:
    ada = await sign_up(api, "ada")
    for _ in range(3):
        wrong = await api.post("/auth/signin", json={"email": ada.email, "password": "not the password"})
        assert wrong.status_code == 401
    # Even the right password waits now.
    limited = await api.post("/auth/signin", json={"email": ada.email, "password": ada.password})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 900
    assert limited.json()["detail"].startswith("Too many failed sign-ins")


async def test_failed_sign_ins_are_limited_per_address_across_accounts(api: httpx.AsyncClient) -> None:
    # Four times the account limit (3) from one address, spread over accounts that do not exist.
    for number in range(12):
        answer = await api.post(
            "/auth/signin", json={"email": f"u{number}@example.com", "password": "guess1234"}
        )
        assert answer.status_code == 401
    limited = await api.post("/auth/signin", json={"email": "fresh@example.com", "password": "guess1234"})
    assert limited.status_code == 429


async def test_with_auth_off_every_request_is_the_local_user(client: httpx.AsyncClient) -> None:
    answer = await client.get("/auth/session")
    assert answer.json() == {"user": {"id": 1, "email": None, "is_admin": True}, "auth_mode": "off"}
    # A token is not even read.
    ignored = await client.get("/auth/session", headers={"Authorization": "Bearer garbage"})
    assert ignored.json()["user"]["id"] == 1


async def test_auth_off_on_an_address_others_reach_is_warned_of(
    make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    for host in ("127.0.0.1", "0.0.0.0"):
        app = create_app(make_settings(backend_host=host))
        with caplog.at_level(logging.WARNING, logger="app_factory"):
            async with app.router.lifespan_context(app):
                await asyncio.sleep(0)
    warnings = [r.getMessage() for r in caplog.records if r.name == "app_factory"]
    assert len(warnings) == 1
    assert warnings[0].startswith("AUTH_MODE=off on BACKEND_HOST=0.0.0.0: anyone who reaches this port")


def test_auth_required_without_a_secret_key_stops_start_up(make_settings: SettingsFactory) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY must be set when AUTH_MODE=required"):
        make_settings(auth_mode="required")
