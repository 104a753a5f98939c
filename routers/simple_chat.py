"""The simple chat API at the root: `POST /chat {message, chat_id?}`, chat histories, deletion.

Kept for the clients of an earlier, single-model chat service, in its shapes. A chat is a session
that has a chat id (`chat_sessions.chat_id`): one the client chose, or a UUID given when it sent
none. The main API sees it as any session (with its `chat_id`); sessions made there have no chat
id and are not chats here. A new chat is answered by DEFAULT_PROVIDER and DEFAULT_MODEL, a chat
that goes on by its session's own provider and model; the reply comes whole, never streamed.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import database
from auth.current_user import Auth, CurrentUser
from config import Settings
from conversation import store
from generation.manager import GenerationManager
from generation.turn import Caller, Started, start_turn
from limits.dependency import ChatLimits
from models import ApiError, ChatRequest, RequestBody
from provider_registry import ProviderRegistry
from routers.deps import AppSettings, Db, Manager, Registry
from routers.errors import (
    CHAT_LIMITED,
    CHAT_NOT_FOUND,
    DRAINING,
    INVALID_CHAT_ID,
    UNREADABLE_BODY,
    UNUSABLE_PROVIDER,
    VENDOR_FAILED,
    responses,
)

router = APIRouter(tags=["simple chat"])

MAX_CHAT_ID = 100  # the column's width
# The rules, for the schema; `check_chat_id` applies them and says which one an id breaks (400).
CHAT_ID_SCHEMA: dict[str, str | int] = {"pattern": "^[A-Za-z0-9_-]+$", "maxLength": MAX_CHAT_ID}
CHAT_ID_RULES = "letters a-z and A-Z, digits 0-9, dashes (-) and underscores (_)"

ENDPOINTS = [
    {"path": "/health", "description": "Checks the health of the endpoint"},
    {"path": "/chat", "description": "Chat with LLM using selected provider", "method": "POST"},
    {"path": "/chat/history", "description": "Get chat history", "method": "GET"},
    {"path": "/chat/history/{chat_id}", "description": "Get specific chat history", "method": "GET"},
    {"path": "/chat/delete/{chat_id}", "description": "Delete specific chat", "method": "DELETE"},
]


class InvalidChatId(ApiError):
    status_code = 400


def check_chat_id(chat_id: str) -> str:
    """`chat_id` if it keeps the rules of chat ids; else a 400 naming the rule it breaks."""
    if any(char.isspace() for char in chat_id):
        raise InvalidChatId(f"Invalid chat_id: it cannot contain spaces; it may hold {CHAT_ID_RULES}")
    special = sorted({char for char in chat_id if not (char.isascii() and (char.isalnum() or char in "-_"))})
    if special:
        found = ", ".join(repr(char) for char in special[:5])
        raise InvalidChatId(
            f"Invalid chat_id: it cannot contain special characters ({found}); it may hold {CHAT_ID_RULES}"
        )
    if len(chat_id) > MAX_CHAT_ID:
        raise InvalidChatId(f"Invalid chat_id: it is longer than {MAX_CHAT_ID} characters")
    return chat_id


async def _chat_id_in_path(
    chat_id: Annotated[str, Path(json_schema_extra=CHAT_ID_SCHEMA, description=f"Only {CHAT_ID_RULES}")],
) -> str:
    return check_chat_id(chat_id)


ChatId = Annotated[str, Depends(_chat_id_in_path)]


class EndpointOut(BaseModel):
    path: str
    description: str
    method: str | None = None


class ApiInfoOut(BaseModel):
    app_name: str
    version: str
    endpoints: list[EndpointOut]


class SimpleChatIn(RequestBody):
    message: str = Field(min_length=1)
    # Empty, or left out: a new chat with a UUID for its id.
    chat_id: str | None = Field(
        None, json_schema_extra={**CHAT_ID_SCHEMA, "pattern": "^[A-Za-z0-9_-]*$"}, description=CHAT_ID_RULES
    )


class SimpleChatOut(BaseModel):
    response: str
    chat_id: str
    success: bool = True


class ChatSummaryOut(BaseModel):
    created_at: datetime
    last_updated: datetime
    message_count: int


class ChatListOut(BaseModel):
    chats: dict[str, ChatSummaryOut]
    success: bool = True


class HistoryMessageOut(BaseModel):
    role: str
    content: str
    timestamp: datetime | None = Field(default=None, description="Absent on the system prompt")


class HistoryOut(BaseModel):
    created_at: datetime
    last_updated: datetime
    messages: list[HistoryMessageOut]


class ChatHistoryOut(BaseModel):
    chat_id: str
    history: HistoryOut
    success: bool = True


class DeletedOut(BaseModel):
    message: str
    success: bool = True


@router.get("/", response_model_exclude_none=True)
async def api_info(settings: AppSettings) -> ApiInfoOut:
    """The simple chat API: its name, version and endpoints."""
    endpoints = [EndpointOut.model_validate(endpoint) for endpoint in ENDPOINTS]
    return ApiInfoOut(app_name=settings.app_name, version=settings.app_version, endpoints=endpoints)


@router.post(
    "/chat",
    responses=responses(
        UNREADABLE_BODY, INVALID_CHAT_ID, UNUSABLE_PROVIDER, VENDOR_FAILED, DRAINING, CHAT_LIMITED
    ),
    dependencies=[ChatLimits],
)
async def simple_chat(
    body: SimpleChatIn,
    registry: Registry,
    manager: Manager,
    settings: AppSettings,
    user: CurrentUser,
    auth: Auth,
) -> SimpleChatOut:
    """Send a message, get the whole reply. A `chat_id` no chat has yet starts a chat with that id."""
    chat_id = check_chat_id(body.chat_id) if body.chat_id else str(uuid.uuid4())
    reply = await _reply(manager, registry, settings, chat_id, body.message, Caller(user.id, auth))
    return SimpleChatOut(response=reply.content, chat_id=chat_id)


async def _reply(
    manager: GenerationManager,
    registry: ProviderRegistry,
    settings: Settings,
    chat_id: str,
    message: str,
    caller: Caller,
) -> database.ChatMessage:
    """The stored reply to `message` in the chat `chat_id`, which is made now if it does not exist."""
    try:
        started = await _start(manager, registry, settings, chat_id, message, caller)
    except IntegrityError:
        # Another request made a chat with this id just now: this message goes on in it.
        started = await _start(manager, registry, settings, chat_id, message, caller)
    return await manager.finished(started.generation)


async def _start(
    manager: GenerationManager,
    registry: ProviderRegistry,
    settings: Settings,
    chat_id: str,
    message: str,
    caller: Caller,
) -> Started:
    session = await manager.db.run(database.session_by_chat_id, chat_id, caller.user_id)
    turn: dict[str, Any] = {"messages": [{"role": "user", "content": message}], "stream": False}
    if session is None:
        turn.update(provider=settings.default_provider, model=settings.default_model)
    else:
        turn.update(session_id=session.id, provider=session.provider, model=session.model)
    body = ChatRequest.model_validate(turn)
    return await start_turn(manager, registry, body, chat_id=None if session else chat_id, caller=caller)


@router.get("/chat/history")
async def chat_list(db: Db, user: CurrentUser) -> ChatListOut:
    """Every chat, most recently active first: when it began and last changed, how many messages it holds."""
    rows = await db.run(database.list_sessions, with_chat_id=True, user_id=user.id)
    chats = {
        str(row.chat_id): ChatSummaryOut(
            created_at=row.created_at,
            last_updated=row.updated_at,
            message_count=count + bool(row.system_prompt),
        )
        for row, count in rows
    }
    return ChatListOut(chats=chats)


def _require_chat(db: Session, chat_id: str, user_id: int) -> database.ChatSession:
    row = database.session_by_chat_id(db, chat_id, user_id)
    if row is None:
        raise database.NotFoundError(f"Chat {chat_id} not found")
    return row


@router.get(
    "/chat/history/{chat_id}",
    response_model_exclude_none=True,
    responses=responses(INVALID_CHAT_ID, CHAT_NOT_FOUND),
)
async def chat_history(chat_id: ChatId, db: Db, user: CurrentUser) -> ChatHistoryOut:
    """A chat's messages, oldest first, after its system prompt if it has one."""

    def read(session: Session) -> ChatHistoryOut:
        row = _require_chat(session, chat_id, user.id)
        system = [HistoryMessageOut(role="system", content=row.system_prompt)] if row.system_prompt else []
        messages = [
            HistoryMessageOut(role=m.role, content=m.content, timestamp=m.created_at)
            for m in store.current_path(session, row.id)
        ]
        history = HistoryOut(
            created_at=row.created_at, last_updated=row.updated_at, messages=system + messages
        )
        return ChatHistoryOut(chat_id=chat_id, history=history)

    return await db.run(read)


@router.delete("/chat/delete/{chat_id}", responses=responses(INVALID_CHAT_ID, CHAT_NOT_FOUND))
async def delete_chat(chat_id: ChatId, db: Db, manager: Manager, user: CurrentUser) -> DeletedOut:
    """Delete a chat (its session and messages); a reply still being generated for it is stopped."""
    row = await db.run(_require_chat, chat_id, user.id)
    manager.stop_session(row.id)
    await db.run(database.delete_session, row.id)
    return DeletedOut(message=f"Chat {chat_id} deleted successfully")
