from fastapi import APIRouter, Query, Response, status

import database
from models import MessageOut, SessionCreate, SessionDetail, SessionOut, SessionUpdate
from routers.deps import DbSession, Manager

router = APIRouter(prefix="/sessions", tags=["sessions"])


async def _require(db: DbSession, session_id: int) -> database.ChatSession:
    row = await database.get_session(db, session_id)
    if row is None:
        raise database.NotFoundError(f"Session {session_id} not found")
    return row


@router.get("")
async def list_sessions(
    db: DbSession,
    response: Response,
    skip: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> list[SessionOut]:
    """Sessions, most recently active first; the total is in `X-Total-Count`."""
    rows = await database.list_sessions(db, skip=skip, limit=limit)
    response.headers["X-Total-Count"] = str(await database.count_sessions(db))
    return [SessionOut.model_validate(row).model_copy(update={"message_count": n}) for row, n in rows]


@router.get("/{session_id}")
async def get_session(db: DbSession, session_id: int) -> SessionDetail:
    """A session with its messages, oldest first."""
    row = await _require(db, session_id)
    messages = [MessageOut.model_validate(m) for m in await database.session_messages(db, session_id)]
    summary = SessionOut.model_validate(row).model_dump(exclude={"message_count"})
    return SessionDetail(**summary, message_count=len(messages), messages=messages)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_session(db: DbSession, body: SessionCreate) -> SessionOut:
    row = await database.create_session(db, **body.model_dump())
    return SessionOut.model_validate(row)


@router.patch("/{session_id}")
async def rename_session(db: DbSession, session_id: int, body: SessionUpdate) -> SessionOut:
    row = await database.rename_session(db, await _require(db, session_id), body.title)
    count = await database.count_messages(db, session_id)
    return SessionOut.model_validate(row).model_copy(update={"message_count": count})


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_session(db: DbSession, manager: Manager, session_id: int) -> None:
    """Delete a session and its messages; a reply still being generated for it is stopped."""
    await _require(db, session_id)
    manager.stop_session(session_id)
    await database.delete_session(db, session_id)


@router.delete("/{session_id}/truncate/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
async def truncate_session(db: DbSession, manager: Manager, session_id: int, message_id: int) -> None:
    """Delete a message and every later one of the session (edit and regenerate)."""
    await _require(db, session_id)
    manager.stop_session(session_id, from_message=message_id)
    if not await database.truncate_from(db, session_id, message_id):
        raise database.NotFoundError(f"Message {message_id} not found in session {session_id}")


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_all_sessions(db: DbSession, manager: Manager) -> None:
    manager.stop_all()
    await database.delete_all_sessions(db)
