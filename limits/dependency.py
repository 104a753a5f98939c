"""`ChatLimits`: the dependency every chat entry point takes (POST /chat, continue, the simple chat API)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import Depends, Request

from auth.current_user import CurrentUser
from limits.errors import LimitExceeded
from limits.slots import PENDING, Slot


class Limits(Protocol):
    per_minute: int
    concurrent: int

    async def hit(self, key: str) -> float | None: ...
    async def acquire(self, key: str) -> Slot | None: ...
    async def close(self) -> None: ...


def client_key(request: Request, user_id: int) -> str:
    """Whose limits a request counts against: its account's with AUTH_MODE=required, else its address's."""
    if not request.app.state.auth.off:
        return f"user:{user_id}"
    return f"address:{request.client.host if request.client else 'unknown'}"


async def chat_limits(request: Request, user: CurrentUser) -> AsyncIterator[None]:
    """Refuse a chat request over its client's limits (429, Retry-After); else take a generation slot."""
    async with within_limits(request, user.id):
        yield


@asynccontextmanager
async def within_limits(request: Request, user_id: int) -> AsyncIterator[None]:
    """`chat_limits` for a route that resolves its caller itself (the front door, gateway/auth.py)."""
    limits: Limits | None = request.app.state.limits
    if limits is None:
        yield
        return
    key = client_key(request, user_id)
    if limits.per_minute:
        wait = await limits.hit(key)
        if wait is not None:
            limit = f"{limits.per_minute} a minute (RATE_LIMIT_PER_MINUTE)"
            raise LimitExceeded(f"Too many chat requests: the limit is {limit}", wait)
    slot = await limits.acquire(key) if limits.concurrent else None
    if limits.concurrent and slot is None:
        raise LimitExceeded(
            f"Too many replies at once: the limit is {limits.concurrent} (MAX_CONCURRENT_GENERATIONS); "
            "retry when one has ended",
            1,
        )
    PENDING.set(slot)
    try:
        yield
    finally:
        if slot is not None and not slot.claimed:
            await slot.release()


ChatLimits = Depends(chat_limits)
