"""Seed 003's chat routes at the root: /chats, their messages, and editing a message.

A chat here is a session of the main API (`chat_id` is the session's id), over the same store and
the same turns: these routes are a second door, not a second implementation.
"""

from fastapi import APIRouter, Response, status
from pydantic import Field

import database
from auth.current_user import Auth, CurrentUser
from conversation import branching
from conversation.schemas import EditRequest
from generation.turn import Caller, start_turn
from limits.dependency import ChatLimits
from models import (
    ApiError,
    ChatRequest,
    ChatResponse,
    MessageOut,
    ModelId,
    ProviderId,
    RequestBody,
    SessionCreate,
    SessionDetail,
    SessionOut,
)
from routers import sessions
from routers.deps import Db, Manager, MessageId, Registry, SessionId
from routers.errors import (
    BRANCH_CONFLICT,
    DRAINING,
    MESSAGE_NOT_FOUND,
    NOT_A_USER_MESSAGE,
    SESSION_NOT_FOUND,
    UNKNOWN_PROVIDER,
    UNREADABLE_BODY,
    UNUSABLE_PROVIDER,
    VENDOR_FAILED,
    responses,
)

router = APIRouter(tags=["chats"])


class NewMessageIn(RequestBody):
    content: str = Field(min_length=1)
    # The chat's own provider and model when left out.
    provider: ProviderId | None = None
    model: ModelId | None = None


class MessageEdit(RequestBody):
    content: str = Field(min_length=1)


@router.get("/chats")
async def list_chats(db: Db, user: CurrentUser, response: Response) -> list[SessionOut]:
    """The caller's chats, most recently active first."""
    return await sessions.list_sessions(db, user, response, skip=0, limit=1000)


@router.post(
    "/chats", status_code=status.HTTP_201_CREATED, responses=responses(UNREADABLE_BODY, UNKNOWN_PROVIDER)
)
async def create_chat(
    db: Db, registry: Registry, manager: Manager, user: CurrentUser, body: SessionCreate
) -> SessionOut:
    return await sessions.create_session(db, registry, manager, user, body)


@router.get("/chats/{chat_id}", responses=SESSION_NOT_FOUND)
async def get_chat(db: Db, manager: Manager, user: CurrentUser, chat_id: SessionId) -> SessionDetail:
    """A chat with its messages, oldest first."""
    return await sessions.get_session(db, manager, user, chat_id)


@router.delete("/chats/{chat_id}", status_code=status.HTTP_204_NO_CONTENT, responses=SESSION_NOT_FOUND)
async def delete_chat(db: Db, manager: Manager, user: CurrentUser, chat_id: SessionId) -> None:
    await sessions.delete_session(db, manager, user, chat_id)


@router.get("/chats/{chat_id}/messages", responses=SESSION_NOT_FOUND)
async def list_messages(db: Db, manager: Manager, user: CurrentUser, chat_id: SessionId) -> list[MessageOut]:
    """A chat's messages, oldest first."""
    return (await sessions.get_session(db, manager, user, chat_id)).messages


@router.post(
    "/chats/{chat_id}/messages",
    dependencies=[ChatLimits],
    status_code=status.HTTP_201_CREATED,
    responses=responses(UNREADABLE_BODY, UNUSABLE_PROVIDER, VENDOR_FAILED, DRAINING, SESSION_NOT_FOUND),
)
async def post_message(
    db: Db,
    registry: Registry,
    manager: Manager,
    user: CurrentUser,
    auth: Auth,
    chat_id: SessionId,
    body: NewMessageIn,
) -> ChatResponse:
    """Send a message to a chat and get the whole reply (GET /api/v1/chat/{id}/stream follows one live)."""
    chat = await db.run(sessions.owned_session, chat_id, user.id)
    turn = ChatRequest.model_validate(
        {
            "session_id": chat.id,
            "provider": body.provider or chat.provider,
            "model": body.model or chat.model,
            "messages": [{"role": "user", "content": body.content}],
            "stream": False,
        }
    )
    started = await start_turn(manager, registry, turn, caller=Caller(user.id, auth))
    message = await manager.finished(started.generation)
    return ChatResponse(session_id=chat.id, message=MessageOut.model_validate(message))


class NotAUserMessage(ApiError):
    status_code = 422


@router.patch(
    "/messages/{message_id}",
    dependencies=[ChatLimits],
    responses=responses(
        UNREADABLE_BODY, MESSAGE_NOT_FOUND, NOT_A_USER_MESSAGE, BRANCH_CONFLICT, VENDOR_FAILED, DRAINING
    ),
)
async def edit_message(
    db: Db,
    registry: Registry,
    manager: Manager,
    user: CurrentUser,
    auth: Auth,
    message_id: MessageId,
    body: MessageEdit,
) -> MessageOut:
    """A new version of a user message and a reply to it, answered once the reply is stored.

    The new version is a sibling of the old one in the chat's tree (the old one and its replies
    stay, reachable through the siblings and the tree routes under /api/v1/sessions); the chat now
    shows the new one. A reply is not edited but regenerated.
    """
    found = await db.run(database.owned_message, message_id, user.id)
    if found is None:
        raise database.NotFoundError(f"Message {message_id} not found")
    if found.role != "user":
        raise NotAUserMessage(
            f"Message {message_id} is an {found.role} message: only user messages are edited (a reply is "
            f"regenerated: POST /api/v1/sessions/{found.session_id}/messages/{message_id}/regenerate)"
        )
    change = EditRequest(content=body.content, stream=False)
    started = await branching.edit_message(manager, registry, None, message_id, change, Caller(user.id, auth))
    reply = await manager.finished(started.generation)
    edited = await db.run(database.get_message, reply.parent_id) if reply.parent_id else None
    if edited is None:  # its chat was deleted meanwhile
        raise database.NotFoundError(f"Message {message_id} not found")
    return MessageOut.model_validate(edited)
