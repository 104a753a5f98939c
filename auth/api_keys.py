"""Personal API keys: `lk-` and 43 random characters, of which only a SHA-256 digest is stored.

A key has 256 random bits, so a fast digest is enough to make the stored form useless to a
reader of the database (a password needs a slow hash because people choose guessable ones).
"""

import hashlib
import secrets

PREFIX = "lk-"


def new_api_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def is_api_key(token: str) -> bool:
    return token.startswith(PREFIX)
