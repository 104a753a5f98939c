"""Access and refresh tokens: JWTs signed with SECRET_KEY (HS256), each naming its sign-in.

The sign-in (`sid`, a row of auth_sessions) is what logging out revokes: a token whose sign-in is
revoked or gone is refused although its signature and expiry are good.
"""

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import jwt

from auth.errors import Unauthorized
from database import utcnow

ALGORITHM = "HS256"
# Tokens whose signature was checked, kept with their expiry: a client sends the same token with
# every request, and PyJWT's checks cost 30 us of each (bench/auth.py). Revocation is still looked
# up on every request (auth_sessions), so a logged-out token is refused at once all the same.
VERIFIED_KEPT = 10_000
TokenKind = Literal["access", "refresh"]


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    login_id: str
    kind: TokenKind


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token is good for


class TokenIssuer:
    def __init__(self, secret: str, access_minutes: int, refresh_days: int) -> None:
        self._secret = secret
        self.access_lifetime = timedelta(minutes=access_minutes)
        self.refresh_lifetime = timedelta(days=refresh_days)
        self._verified: OrderedDict[str, tuple[float, Claims]] = OrderedDict()

    def issue(self, user_id: int, login_id: str) -> TokenPair:
        return TokenPair(
            access_token=self._encode(user_id, login_id, "access", self.access_lifetime),
            refresh_token=self._encode(user_id, login_id, "refresh", self.refresh_lifetime),
            expires_in=int(self.access_lifetime.total_seconds()),
        )

    def _encode(self, user_id: int, login_id: str, kind: TokenKind, lifetime: timedelta) -> str:
        now = utcnow()
        claims = {
            "sub": str(user_id),
            "sid": login_id,
            "typ": kind,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),  # two tokens issued in the same second still differ
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, kind: TokenKind) -> Claims:
        """The claims of a token of `kind` whose signature and expiry are good; else Unauthorized."""
        kept = self._verified.get(token)
        if kept is not None and kept[1].kind == kind and time.time() < kept[0]:
            return kept[1]
        verified = self._verify(token, kind)
        self._verified[token] = verified
        while len(self._verified) > VERIFIED_KEPT:
            self._verified.popitem(last=False)
        return verified[1]

    def _verify(self, token: str, kind: TokenKind) -> tuple[float, Claims]:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "sid", "typ"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired; sign in again or refresh it") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("The token is not valid") from None
        if claims["typ"] != kind or not str(claims["sub"]).isdigit():
            raise Unauthorized(f"Not an {kind} token" if kind == "access" else f"Not a {kind} token")
        return float(claims["exp"]), Claims(int(claims["sub"]), str(claims["sid"]), kind)
