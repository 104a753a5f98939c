"""Who is calling the front door, from its `Authorization: Bearer <key>` header.

Every front-door request is resolved here and nowhere else. No accounts exist yet, so every caller
is accepted as the anonymous one (the openai SDK always sends some key: any key is taken); once
accounts and personal keys exist (AUTH_MODE), this is the one call that changes.
"""

from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True, slots=True)
class Caller:
    """The caller of a front-door request; `user_id` None is the anonymous caller."""

    user_id: str | None = None


ANONYMOUS = Caller()


async def resolve_caller(request: Request) -> Caller:
    """The caller named by the request's bearer token; today every request is the anonymous caller."""
    return ANONYMOUS
