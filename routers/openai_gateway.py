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
        _model(f"{listing.provider}/{m.id}", listing.provider) for listing in listings for m in listing.models
    ]
    data += [_model(alias, "alias") for alias in gateway.routes.aliases]
    return {"object": "list", "data": data}


@router.get("/models/{model:path}", responses=ERRORS)
async def retrieve_model(
    model: str, caller: Calling, registry: Registry, gateway: GatewayState
) -> dict[str, Any]:
    """One model of GET /v1/models by its id: `provider/model` (slashes allowed in the model) or an alias."""
    if model in gateway.routes.aliases:
        return _model(model, "alias")
    target = gateway.routes.targets(model)[0]  # 404 for a provider this service does not have
    provider = registry.known(target.provider)
    await registry.refresh(provider.id)
    listing = await registry.models(provider.id) if provider.configured else None
    if listing is None or all(m.id != target.model for m in listing.models):
        where = (
            f"the models of '{provider.id}'" if listing is not None else f"'{provider.id}' (not configured)"
        )
        raise GatewayError(
            f"The model '{model}' does not exist: it is not among {where}; GET /v1/models lists them",
            status=404,
            param="model",
            code="model_not_found",
        )
    return _model(model, provider.id)


def _model(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}
