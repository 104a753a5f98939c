"""Chat: start a turn, stream it as SSE, resume, stop.

POST /chat frames each event as exactly one `data:` line (the web client drops anything else);
the resume stream adds `id:` lines so a browser EventSource reconnects without gaps.
"""

import functools
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from pydantic import WithJsonSchema

import database
from chat_turns import Started, start_continue, start_turn
from generation import STOPPED, Generation, GenerationManager, stored_log
from models import ChatRequest, ChatResponse, ContinueRequest, MessageOut
from routers.deps import Db, Manager, MessageId, Registry
from routers.errors import (
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


def _stop_on_disconnect(manager: GenerationManager, generation: Generation) -> Callable[[], object] | None:
    """What ends with a stream of a running reply: nothing, unless DISCONNECT_POLICY says stop."""
    if manager.settings.disconnect_policy != "stop":
        return None
    return functools.partial(generation.abort, STOPPED)


# No reply numbers this many events; a larger number would not fit a Redis stream id either.
MAX_EVENT_NUMBER = 2**31 - 1

SSE_OR_JSON: Responses = {200: {"content": {"text/event-stream": {}}, "description": "SSE when stream=true"}}
SSE_WITH_IDS: Responses = {200: {"content": {"text/event-stream": {}}, "description": "SSE with id: lines"}}
TURN_REFUSED = responses(UNREADABLE_BODY, UNUSABLE_PROVIDER, VENDOR_FAILED, DRAINING)


@router.post(
    "",
    response_model=ChatResponse,
    responses=responses(SSE_OR_JSON, TURN_REFUSED, UNUSABLE_MEDIA, SESSION_NOT_FOUND),
)
async def chat(body: ChatRequest, registry: Registry, manager: Manager) -> Response:
    """Send new message(s) and get the reply, streamed as SSE (default) or as one JSON object."""
    started = await start_turn(manager, registry, body)
    return await _answer(started, body.stream, manager)


@router.post(
    "/{message_id}/continue",
    response_model=ChatResponse,
    responses=responses(SSE_OR_JSON, TURN_REFUSED, MESSAGE_NOT_FOUND, NOT_CONTINUABLE),
)
async def continue_reply(
    message_id: MessageId, registry: Registry, manager: Manager, body: ContinueRequest | None = None
) -> Response:
    """Ask the model to go on with a stopped, failed, interrupted or length-cut reply (same message)."""
    started = await start_continue(manager, registry, message_id)
    return await _answer(started, body.stream if body else True, manager)


# The chat routes take no request-scoped DB session: a streamed turn never reads through one.
async def _answer(started: Started, stream: bool, manager: GenerationManager) -> Response:
    generation = started.generation
    headers = {"X-Ignored-Parameters": ", ".join(started.ignored)} if started.ignored else {}
    if stream:
        await generation.started.wait()
        error = generation.error
        if (
            error is not None
            and not generation.has_output
            and not getattr(error, "answered_in_stream", False)
        ):
            raise error
        return EventStreamResponse(
            generation.log.follow(0),
            with_ids=False,
            on_close=_stop_on_disconnect(manager, generation),
            headers=headers,
        )
    await generation.done.wait()
    if generation.error is not None:
        raise generation.error
    message = await manager.db.run(database.get_message, generation.message_id)
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
    message = await db.run(database.get_message, message_id)
    if message is None or message.role != "assistant":
        raise database.NotFoundError(f"Assistant message {message_id} not found")
    generation = manager.get(message_id)
    if generation is not None:
        return EventStreamResponse(
            generation.log.follow(after), with_ids=True, on_close=_stop_on_disconnect(manager, generation)
        )
    elsewhere = await manager.follow_elsewhere(message_id, after)
    if elsewhere is not None:
        return EventStreamResponse(elsewhere, with_ids=True)
    return EventStreamResponse(stored_log(message).follow(after), with_ids=True)


@router.post("/{message_id}/stop", responses=responses(MESSAGE_NOT_FOUND, NOT_GENERATING))
async def stop(message_id: MessageId, manager: Manager, db: Db) -> MessageOut:
    """End a running generation now, keeping its partial text (status `stopped`)."""
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


class NotGenerating(Exception):
    status_code = 409

    def __init__(self, message_id: int, status: str) -> None:
        super().__init__(f"Message {message_id} is not generating (status: {status})")
        self.status = status
