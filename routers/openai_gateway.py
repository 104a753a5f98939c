"""The OpenAI-compatible front door at /v1: Chat Completions and the model list, in OpenAI's wire.

Every call is a chat turn of our own (gateway/): stored as a session, produced by a generation
that outlives its client, its events rendered as chunks. Errors answer in OpenAI's shape.
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from gateway.answer import answer
from gateway.auth import FrontDoorCall, front_door_call, resolve_caller
from gateway.calls import start_call
from gateway.errors import ERRORS, GatewayError, OpenAIErrorRoute
from gateway.schemas import CompletionRequest
from generation.turn import Caller
from models import MAX_ROW_ID
from routers.deps import GatewayState, Registry
from routers.errors import Responses

router = APIRouter(prefix="/v1", tags=["openai-compatible"], route_class=OpenAIErrorRoute)

# Dependencies, so that a call without a valid key is refused before its body is even read.
Calling = Annotated[Caller, Depends(resolve_caller)]
# The caller within the chat limits (limits/), and the app's state the call runs on.
Completing = Annotated[FrontDoorCall, Depends(front_door_call)]
SessionHeader = Annotated[
    int | None,
    Header(alias="X-Session-Id", ge=1, le=MAX_ROW_ID, description="Continue this stored session"),
]


STREAMED: Responses = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "chat.completion.chunk events when stream=true",
    }
}


@router.post("/chat/completions", response_model=None, responses={**STREAMED, **ERRORS})
async def chat_completions(
    body: CompletionRequest, on: Completing, session_header: SessionHeader = None
) -> Response:
    """OpenAI's Chat Completions (streamed or not); the call is stored as a session."""
    session_id = session_header if session_header is not None else _metadata_session(body)
    manager = on.manager
    call = await start_call(
        manager, on.registry, on.gateway, body, on.caller, session_id=session_id, label=body.user
    )
    return await answer(
        call,
        body.model,
        stream=body.stream,
        include_usage=body.include_usage,
        leaving_stops=manager.settings.disconnect_policy == "stop",
    )


def _metadata_session(body: CompletionRequest) -> int | None:
    value = body.session_id()
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_ROW_ID:
        raise GatewayError(f"metadata.session_id must be a session id, not '{value}'", param="metadata")
    return int(value)


@router.get("/models")
async def list_models(caller: Calling, registry: Registry, gateway: GatewayState) -> dict[str, Any]:
    """The models of every configured provider as `provider/model`, and the aliases."""
    await registry.refresh()
    configured = [p.id for p in registry.all() if p.configured]
    listings = await asyncio.gather(*(registry.models(p) for p in configured))
    data = [
        {"id": f"{listing.provider}/{m.id}", "object": "model", "created": 0, "owned_by": listing.provider}
        for listing in listings
        for m in listing.models
    ]
    data += [
        {"id": alias, "object": "model", "created": 0, "owned_by": "alias"}
        for alias in gateway.routes.aliases
    ]
    return {"object": "list", "data": data}
