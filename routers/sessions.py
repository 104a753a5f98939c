import asyncio
from typing import TypeVar

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.orm import Session

import database
from auth.current_user import CurrentUser
from conversation import store
from generation.manager import GenerationManager
from models import MAX_ROW_ID, MessageOut, SessionCreate, SessionDetail, SessionOut, SessionUpdate
from routers.deps import Db, Manager, MessageId, Registry, SessionId
from routers.errors import MESSAGE_NOT_FOUND, SESSION_NOT_FOUND, UNKNOWN_PROVIDER, UNREADABLE_BODY, responses

router = APIRouter(prefix="/sessions", tags=["sessions"])


def owned_session(db: Session, session_id: int, user_id: int) -> database.ChatSession:
    """The caller's session; another user's is not found, exactly as one that does not exist."""
    row = database.get_session(db, session_id, user_id)
    if row is None:
        raise database.NotFoundError(f"Session {session_id} not found")
    return row


@router.get("")
async def list_sessions(
    db: Db,
    user: CurrentUser,
    response: Response,
    # No more rows than ids; past 2**63 SQLite could not even bind the offset.
    skip: int = Query(0, ge=0, le=MAX_ROW_ID),
    limit: int = Query(100, ge=1, le=1000),
) -> list[SessionOut]:
    """Sessions, most recently active first; the total is in `X-Total-Count`."""

    def read(session: Session) -> tuple[list[SessionOut], int]:
        rows = database.list_sessions(session, skip=skip, limit=limit, user_id=user.id)
        page = [SessionOut.model_validate(row).model_copy(update={"message_count": n}) for row, n in rows]
        return page, database.count_sessions(session, user.id)

    page, total = await db.run(read)
    response.headers["X-Total-Count"] = str(total)
    return page


@router.get("/{session_id}", responses=SESSION_NOT_FOUND)
async def get_session(db: Db, manager: Manager, user: CurrentUser, session_id: SessionId) -> SessionDetail:
    """A session with the messages of the branch it shows (root to current leaf), oldest first.

    A reply still running reads as it stands now.
    """
    detail = await db.run(session_detail, session_id, user.id)
    detail.messages = await with_live_state(manager, detail.messages)
    return detail


def session_detail(session: Session, session_id: int, user_id: int) -> SessionDetail:
    row = owned_session(session, session_id, user_id)
    messages = [MessageOut.model_validate(m) for m in store.current_path(session, session_id)]
    summary = SessionOut.model_validate(row).model_dump(exclude={"message_count"})
    return SessionDetail(**summary, message_count=len(messages), messages=messages)


M = TypeVar("M", bound=MessageOut)


async def with_live_state(manager: GenerationManager, messages: list[M]) -> list[M]:
    """`messages` with each reply still running as its generation holds it now."""
    running = [i for i, m in enumerate(messages) if m.status == "streaming"]
    if running:
        # The stored row is the last periodic flush; the generation itself has the live text.
        states = await asyncio.gather(*(manager.live_state(messages[i].id) for i in running))
        for i, state in zip(running, states, strict=True):
            if state is not None:
                messages[i] = type(messages[i]).model_validate(messages[i].model_dump() | state)
    return messages


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(UNREADABLE_BODY, UNKNOWN_PROVIDER))
async def create_session(
    db: Db, registry: Registry, manager: Manager, user: CurrentUser, body: SessionCreate
) -> SessionOut:
    """Create an empty session; its provider must be one this service knows (configured or not).

    Without a system prompt (null, not ""), it gets SYSTEM_PROMPT_FILE's, if that file has one.
    """
    registry.known(body.provider)
    fields = body.model_dump()
    if body.system_prompt is None:
        fields["system_prompt"] = await manager.default_prompt.read()

    def create(session: Session) -> SessionOut:
        created = database.create_session(session, **fields, user_id=user.id)
        return SessionOut.model_validate(owned_session(session, created, user.id))

    return await db.run(create)


@router.patch("/{session_id}", responses=responses(UNREADABLE_BODY, SESSION_NOT_FOUND))
async def rename_session(db: Db, user: CurrentUser, session_id: SessionId, body: SessionUpdate) -> SessionOut:
    def rename(session: Session) -> SessionOut:
        row = database.rename_session(session, owned_session(session, session_id, user.id), body.title)
        count = database.count_messages(session, session_id)
        return SessionOut.model_validate(row).model_copy(update={"message_count": count})

    return await db.run(rename)


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses=SESSION_NOT_FOUND)
async def delete_session(db: Db, manager: Manager, user: CurrentUser, session_id: SessionId) -> None:
    """Delete a session and its messages; a reply still being generated for it is stopped."""
    await db.run(owned_session, session_id, user.id)
    manager.stop_session(session_id)
    await db.run(database.delete_session, session_id)


@router.delete(
    "/{session_id}/truncate/{message_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(SESSION_NOT_FOUND, MESSAGE_NOT_FOUND),
)
async def truncate_session(
    db: Db, manager: Manager, user: CurrentUser, session_id: SessionId, message_id: MessageId
) -> None:
    """Delete a message and everything after it (on every branch below it); the session shows its parent."""
    await db.run(owned_session, session_id, user.id)
    manager.stop_session(session_id, from_message=message_id)
    if not await db.run(store.truncate, session_id, message_id):
        raise database.NotFoundError(f"Message {message_id} not found in session {session_id}")


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_all_sessions(db: Db, manager: Manager, user: CurrentUser) -> None:
    """Delete the caller's sessions and their messages; their replies still being generated are stopped."""
    for session_id in await db.run(database.session_ids, user.id):
        manager.stop_session(session_id)
    await db.run(database.delete_all_sessions, user.id)
