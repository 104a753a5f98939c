"""Chat: start a turn, stream it as SSE, resume, stop.

POST /chat frames each event as exactly one `data:` line (the web client drops anything else);
the resume stream adds `id:` lines so a browser EventSource reconnects without gaps.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import WithJsonSchema

import database
from auth.current_user import Auth, CurrentUser
from generation.manager import GenerationManager
from generation.reply import replay_log
from generation.running import Generation
from generation.turn import Caller, Started, start_continue, start_turn
from generation.watchdogs import STOPPED
from limits.dependency import ChatLimits
from models import ApiError, ChatRequest, ChatResponse, ContinueRequest, MessageOut
from routers.deps import Db, Manager, MessageId, Registry
from routers.errors import (
    CHAT_LIMITED,
    DRAINING,
    MESSAGE_NOT_FOUND,
    NOT_CONTINUABLE,
    NOT_GENERATING,
    SESSION_NOT_FOUND,
    UNREADABLE_BODY,
    UNUSABLE_MEDIA,
    UNUSABLE_PROVIDER,
    VENDOR_FAILED,
    Responses,
    responses,
)
from routers.event_stream import EventStreamResponse

router = APIRouter(prefix="/chat", tags=["chat"])


def disconnect_action(
    manager: GenerationManager, generation: Generation, *, resumable: bool
) -> Callable[[int], object] | None:
    """What a client's leaving does to the reply it streams (DISCONNECT_POLICY).

    `auto`: a client that said it will resume (X-Resumable) leaves the reply running; any other
    client's leaving is its Stop, and the reply keeps exactly the events it had been sent.
    """
    policy = manager.settings.disconnect_policy
    if policy == "continue" or (policy == "auto" and resumable):
        return None
    generation.leaving_stops += 1

    def left(sent: int) -> None:
        generation.leaving_stops -= 1
        generation.abort(STOPPED, cut_at=sent)

    return left


RESUMABLE = Header(
    False,
    alias="X-Resumable",
    description=(
        "1 (or true): this client resumes a dropped stream itself (GET /chat/{message_id}/stream), "
        "so its disconnect does not stop the reply. Without it, a disconnect stops the reply at "
        "what the client was sent (DISCONNECT_POLICY=auto, the default)."
    ),
)


# No reply numbers this many events; a larger number would not fit a Redis stream id either.
MAX_EVENT_NUMBER = 2**31 - 1

SSE_OR_JSON: Responses = {200: {"content": {"text/event-stream": {}}, "description": "SSE when stream=true"}}
SSE_WITH_IDS: Responses = {200: {"content": {"text/event-stream": {}}, "description": "SSE with id: lines"}}
TURN_REFUSED = responses(UNREADABLE_BODY, UNUSABLE_PROVIDER, VENDOR_FAILED, DRAINING)


@router.post(
    "",
    response_model=ChatResponse,
    responses=responses(SSE_OR_JSON, TURN_REFUSED, UNUSABLE_MEDIA, SESSION_NOT_FOUND, CHAT_LIMITED),
    dependencies=[ChatLimits],
)
async def chat(
    body: ChatRequest,
    registry: Registry,
    manager: Manager,
    user: CurrentUser,
    auth: Auth,
    resumable: bool = RESUMABLE,
) -> Response:
    """Send new message(s) and get the reply, streamed as SSE (default) or as one JSON object."""
    started = await start_turn(manager, registry, body, caller=Caller(user.id, auth))
    return await answer_turn(started, body.stream, manager, resumable=resumable)


@router.post(
    "/{message_id}/continue",
    response_model=ChatResponse,
    responses=responses(SSE_OR_JSON, TURN_REFUSED, MESSAGE_NOT_FOUND, NOT_CONTINUABLE, CHAT_LIMITED),
    dependencies=[ChatLimits],
)
async def continue_reply(
    message_id: MessageId,
    registry: Registry,
    manager: Manager,
    user: CurrentUser,
    auth: Auth,
    body: ContinueRequest | None = None,
    resumable: bool = RESUMABLE,
) -> Response:
    """Ask the model to go on with a stopped, failed, interrupted or length-cut reply (same message)."""
    started = await start_continue(manager, registry, message_id, caller=Caller(user.id, auth))
    return await answer_turn(started, body.stream if body else True, manager, resumable=resumable)


# The chat routes take no request-scoped DB session: a streamed turn never reads through one.
async def answer_turn(
    started: Started, stream: bool, manager: GenerationManager, *, resumable: bool
) -> Response:
    generation = started.generation
    headers = {"X-Ignored-Parameters": ", ".join(started.ignored)} if started.ignored else {}
    if stream:
        # The turn is stored: from here on a failure is an `error` event, so the client has the
        # session_id of the session that now holds its message, whatever the vendor does.
        return EventStreamResponse(
            generation.log.follow(0),
            with_ids=False,
            on_close=disconnect_action(manager, generation, resumable=resumable),
            headers=headers,
        )
    message = await manager.finished(generation)
    payload = ChatResponse(session_id=generation.session_id, message=MessageOut.model_validate(message))
    return Response(payload.model_dump_json(), media_type="application/json", headers=headers)


@router.get(
    "/{message_id}/stream",
    response_class=Response,
    responses=responses(SSE_WITH_IDS, MESSAGE_NOT_FOUND),
)
async def resume(
    message_id: MessageId,
    manager: Manager,
    db: Db,
    user: CurrentUser,
    last_event_id: int = Query(0, ge=0, le=MAX_EVENT_NUMBER, description="Resume after this event number"),
    # A header is sent or not, never as null: its schema is an integer, not integer-or-null.
    last_event_header: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, le=MAX_EVENT_NUMBER),
        WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_EVENT_NUMBER}),
    ] = None,
) -> Response:
    """Replay the events after `Last-Event-ID` (or `?last_event_id=`), then follow live."""
    after = last_event_header if last_event_header is not None else last_event_id
    # The row decides whether the reply exists: a deleted one is not replayed from any log.
    message = await db.run(database.owned_message, message_id, user.id)
    if message is None or message.role != "assistant":
        raise database.NotFoundError(f"Assistant message {message_id} not found")
    generation = manager.get(message_id)
    if generation is not None:
        # A client of the resume stream resumes by nature: only DISCONNECT_POLICY=stop stops it.
        on_close = disconnect_action(manager, generation, resumable=True)
        return EventStreamResponse(generation.log.follow(after), with_ids=True, on_close=on_close)
    elsewhere = await manager.follow_elsewhere(message_id, after)
    if elsewhere is not None:
        return EventStreamResponse(elsewhere, with_ids=True)
    return EventStreamResponse(replay_log(message).follow(after), with_ids=True)


@router.post("/{message_id}/stop", responses=responses(MESSAGE_NOT_FOUND, NOT_GENERATING))
async def stop(message_id: MessageId, manager: Manager, db: Db, user: CurrentUser) -> MessageOut:
    """End a running generation now, keeping its partial text (status `stopped`)."""
    message = await db.run(database.owned_message, message_id, user.id)
    if message is None:
        raise database.NotFoundError(f"Message {message_id} not found")
    generation = manager.get(message_id)
    if generation is not None and generation.abort(STOPPED):
        await generation.done.wait()
    elif not await manager.stop_elsewhere(message_id):
        message = await db.run(database.get_message, message_id)
        if message is None:
            raise database.NotFoundError(f"Message {message_id} not found")
        raise NotGenerating(message_id, message.status)
    message = await db.run(database.get_message, message_id)
    return MessageOut.model_validate(message)


class NotGenerating(ApiError):
    status_code = 409

    def __init__(self, message_id: int, status: str) -> None:
        super().__init__(f"Message {message_id} is not generating (status: {status})")
        self.status = status

    def extra(self) -> dict[str, Any]:
        return {"status": self.status}
