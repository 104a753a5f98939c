"""Who is calling the front door, from its `Authorization: Bearer <key>` header.

Every front-door request is resolved here and nowhere else, as the rest of the API resolves its
callers (auth/current_user.py): with AUTH_MODE=off any key is taken (the openai SDK always sends
one) and the caller is the local user; with `required` the bearer is an access JWT or a personal
`lk-` API key, and anything else is a 401 in OpenAI's error shape.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request

from auth.current_user import bearer_token, user_from_token
from auth.service import AuthService
from gateway.service import Gateway
from generation.manager import GenerationManager
from generation.turn import Caller
from limits.dependency import within_limits
from provider_registry import ProviderRegistry


async def resolve_caller(request: Request) -> Caller:
    """The caller named by the request's bearer token: whose sessions and vendor keys the call uses."""
    auth: AuthService = request.app.state.auth
    user = await user_from_token(bearer_token(request.headers.get("authorization")), auth)
    return Caller(user.id, auth)


@dataclass(frozen=True, slots=True)
class FrontDoorCall:
    """What a Chat Completions call runs on: its caller, within its limits, and the app's state."""

    caller: Caller
    registry: ProviderRegistry
    manager: GenerationManager
    gateway: Gateway


async def front_door_call(request: Request) -> AsyncIterator[FrontDoorCall]:
    """One dependency for all of it: each one FastAPI solves adds ~10 µs before the first token."""
    caller = await resolve_caller(request)
    state = request.app.state
    async with within_limits(request, caller.user_id):
        yield FrontDoorCall(caller, state.registry, state.manager, state.gateway)
