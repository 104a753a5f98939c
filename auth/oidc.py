"""OpenID Connect ID tokens from the issuers in OIDC_ISSUERS, verified against each issuer's keys.

An issuer's keys (JWKS) are fetched on first use and kept for an hour; a token signed with a key
id not among them fetches them again (the issuer rotated its keys), at most once a minute.
"""

import time
from dataclasses import dataclass
from typing import Any

import httpx2
import jwt

from auth.errors import Unauthorized
from config import OidcIssuer
from models import ApiError

# Signatures by a key pair only: an HS256 token would be checked with a public key as its secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
KEYS_TTL = 3600.0
REFETCH_AFTER = 60.0


class IssuerUnreachable(ApiError):
    """The issuer's keys could not be fetched: its fault or the network's, not the token's."""

    status_code = 502


@dataclass(frozen=True, slots=True)
class Identity:
    issuer: str
    subject: str
    email: str | None  # only when the issuer says it is verified


class OidcVerifier:
    def __init__(self, issuers: list[OidcIssuer], http: httpx2.AsyncClient) -> None:
        self._issuers = {issuer.issuer.rstrip("/"): issuer for issuer in issuers}
        self._http = http
        self._keys: dict[str, tuple[float, jwt.PyJWKSet]] = {}

    async def verify(self, id_token: str) -> Identity:
        """The identity an ID token vouches for; Unauthorized when it is not one we take."""
        try:
            unverified = jwt.decode(id_token, options={"verify_signature": False})
            key_id = jwt.get_unverified_header(id_token).get("kid")
        except jwt.InvalidTokenError:
            raise Unauthorized("The ID token is not a JWT") from None
        issuer = self._issuers.get(str(unverified.get("iss", "")).rstrip("/"))
        if issuer is None:
            raise Unauthorized("The ID token's issuer is not one this service accepts (OIDC_ISSUERS)")
        key = await self._signing_key(issuer, key_id)
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=ALGORITHMS,
                audience=issuer.audience,
                issuer=unverified["iss"],
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"The ID token is not valid: {exc}") from None
        verified = claims.get("email_verified") is True
        return Identity(issuer.issuer, str(claims["sub"]), claims.get("email") if verified else None)

    async def _signing_key(self, issuer: OidcIssuer, key_id: str | None) -> Any:
        fetched, keys = self._keys.get(issuer.issuer, (0.0, None))
        age = time.monotonic() - fetched
        if keys is None or age > KEYS_TTL or (_find(keys, key_id) is None and age > REFETCH_AFTER):
            keys = await self._fetch(issuer)
            self._keys[issuer.issuer] = (time.monotonic(), keys)
        found = _find(keys, key_id)
        if found is None:
            raise Unauthorized("The ID token is signed with a key its issuer does not publish")
        return found.key

    async def _fetch(self, issuer: OidcIssuer) -> jwt.PyJWKSet:
        try:
            url = issuer.jwks_url or await self._jwks_uri(issuer)
            response = await self._http.get(url)
            response.raise_for_status()
            return jwt.PyJWKSet.from_dict(response.json())
        except (httpx2.HTTPError, ValueError, KeyError, jwt.PyJWKSetError) as exc:
            raise IssuerUnreachable(
                f"The keys of the issuer {issuer.issuer} could not be fetched ({type(exc).__name__})"
            ) from None

    async def _jwks_uri(self, issuer: OidcIssuer) -> str:
        response = await self._http.get(f"{issuer.issuer.rstrip('/')}/.well-known/openid-configuration")
        response.raise_for_status()
        return str(response.json()["jwks_uri"])

    async def aclose(self) -> None:
        await self._http.aclose()


def _find(keys: jwt.PyJWKSet, key_id: str | None) -> jwt.PyJWK | None:
    if key_id is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    return next((key for key in keys.keys if key.key_id == key_id), None)
