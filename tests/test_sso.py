"""POST /auth/sso: ID tokens of a local OpenID Connect issuer the test runs, verified against its keys."""

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.accounts import account, required, secret, sign_up
from tests.conftest import ServeApp, SettingsFactory
from tests.fakes.server import ServerThread

pytestmark = pytest.mark.timeout(60)

AUDIENCE = "lite-llm-chat"


class Issuer:
    """An OpenID Connect issuer: a discovery document, its published keys, and ID tokens it signs."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = "key-1"
        self.url = ""
        self.jwks_requests = 0
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/keys", self._keys),
            ]
        )

    async def _discovery(self, request: Request) -> JSONResponse:
        return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/keys"})

    async def _keys(self, request: Request) -> JSONResponse:
        self.jwks_requests += 1
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return JSONResponse({"keys": [{**public, "kid": self.key_id, "use": "sig", "alg": "RS256"}]})

    def id_token(self, subject: str = "user-42", signer: Any = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "sub": subject, "aud": AUDIENCE, "iat": now, "exp": now + 300, **claims}
        token = jwt.encode(payload, signer or self.key, algorithm="RS256", headers={"kid": self.key_id})
        return secret(token)


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    with ServerThread(made.app) as server:
        made.url = server.url
        yield made


def sso_settings(issuer: Issuer, **overrides: Any) -> dict[str, Any]:
    return required(oidc_issuers=[{"issuer": issuer.url, "audience": AUDIENCE}], **overrides)


async def test_an_id_token_signs_up_then_signs_in_the_same_account(
    serve: ServeApp, make_settings: SettingsFactory, issuer: Issuer
) -> None:
    async with serve(make_settings(**sso_settings(issuer))) as http:
        first = await http.post("/auth/sso", json={"id_token": issuer.id_token()})
        again = await http.post("/auth/sso", json={"id_token": issuer.id_token()})
        signed_in = account(again.json(), "", "")
        session = await http.get("/auth/session", headers=signed_in.headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["user"]["id"] == again.json()["user"]["id"] == session.json()["user"]["id"]
    assert issuer.jwks_requests == 1  # the issuer's keys are kept, not fetched per sign-in


async def test_a_verified_email_links_the_account_that_has_it(
    serve: ServeApp, make_settings: SettingsFactory, issuer: Issuer
) -> None:
    async with serve(make_settings(**sso_settings(issuer))) as http:
        ada = await sign_up(http, "ada")
        unverified = await http.post("/auth/sso", json={"id_token": issuer.id_token("a", email=ada.email)})
        verified = await http.post(
            "/auth/sso", json={"id_token": issuer.id_token("b", email=ada.email, email_verified=True)}
        )
    assert unverified.json()["user"]["id"] != ada.id and unverified.json()["user"]["email"] is None
    assert verified.json()["user"] == {"id": ada.id, "email": ada.email, "is_admin": True}


async def test_id_tokens_that_are_not_the_issuers_own_are_refused(
    serve: ServeApp, make_settings: SettingsFactory, issuer: Issuer
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "signed by another key": issuer.id_token(signer=stranger),
        "for another audience": issuer.id_token(aud="another-app"),
        "expired": issuer.id_token(exp=int(time.time()) - 60),
        "from an issuer not configured": issuer.id_token(iss="https://elsewhere.example"),
        "an HS256 token keyed by the public key": secret(
            jwt.encode({"iss": issuer.url, "sub": "x", "aud": AUDIENCE}, "s" * 32, algorithm="HS256")
        ),
        "not a JWT": "not-a-jwt",
    }
    async with serve(make_settings(**sso_settings(issuer))) as http:
        answers = {
            case: await http.post("/auth/sso", json={"id_token": token}) for case, token in cases.items()
        }
    for case, answer in answers.items():
        assert answer.status_code == 401, (case, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert (
        "issuer is not one this service accepts" in answers["from an issuer not configured"].json()["detail"]
    )
    assert "Signature verification failed" in answers["signed by another key"].json()["detail"]


async def test_sso_makes_no_account_when_signing_up_is_off(
    serve: ServeApp, make_settings: SettingsFactory, issuer: Issuer
) -> None:
    async with serve(make_settings(**sso_settings(issuer, allow_signup=False))) as http:
        answer = await http.post("/auth/sso", json={"id_token": issuer.id_token()})
    assert answer.status_code == 403


async def test_an_issuer_whose_keys_cannot_be_fetched_is_a_502_naming_it(
    serve: ServeApp, make_settings: SettingsFactory, issuer: Issuer
) -> None:
    token = issuer.id_token()
    gone = {"issuer": issuer.url, "audience": AUDIENCE, "jwks_url": "http://127.0.0.1:9/keys"}
    async with serve(make_settings(**required(oidc_issuers=[gone]))) as http:
        answer = await http.post("/auth/sso", json={"id_token": token})
    assert answer.status_code == 502
    assert (
        answer.json()["detail"] == f"The keys of the issuer {issuer.url} could not be fetched (ConnectError)"
    )
