"""Password hashes: argon2id through pwdlib, computed off the event loop (tens of ms of CPU each)."""

import asyncio

from pwdlib import PasswordHash

_HASHER = PasswordHash.recommended()
# Checked when the email has no account: an unknown email costs as much time as a wrong password.
_UNKNOWN = _HASHER.hash("an account that does not exist")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`; None (no account, or one without a password) never matches."""
    matched = await asyncio.to_thread(_HASHER.verify, password, stored or _UNKNOWN)
    return matched and stored is not None
