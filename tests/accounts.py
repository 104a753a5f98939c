"""Accounts for the tests: signing up through the HTTP API, and every secret a test used.

`secret(value)` records a password, token or key so that the run's logs can be searched for it
at the end (conftest's `no_secret_in_logs`).
"""

from dataclasses import dataclass
from typing import Any

import httpx

SECRETS: set[str] = set()
SECRET_KEY = "test-signing-secret-0123456789abcdef"


def secret(value: str) -> str:
    SECRETS.add(value)
    return value


@dataclass
class Account:
    id: int
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def sign_up(http: httpx.AsyncClient, name: str, password: str = "correct horse battery") -> Account:
    email = f"{name}@example.com"
    answer = await http.post("/auth/signup", json={"email": email, "password": secret(password)})
    assert answer.status_code == 201, answer.text
    return account(answer.json(), email, password)


def account(body: dict[str, Any], email: str, password: str) -> Account:
    return Account(
        id=body["user"]["id"],
        email=email,
        password=password,
        access_token=secret(body["access_token"]),
        refresh_token=secret(body["refresh_token"]),
    )


def required(**overrides: Any) -> dict[str, Any]:
    """Settings overrides for AUTH_MODE=required."""
    return {"auth_mode": "required", "secret_key": SECRET_KEY, **overrides}
