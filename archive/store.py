"""Archives out of and into the database: one unit of work each, an import all or nothing."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

import database
from archive.ours import Archive, ArchivedMessage, ArchivedSession

# Columns a message keeps as they are, in an archive and in the database alike.
_MESSAGE_COLUMNS = tuple(name for name in ArchivedMessage.model_fields if name not in ("id", "parent_id"))


@dataclass
class ImportResult:
    imported: list[int] = field(default_factory=list)  # the new sessions' ids, in the file's order
    skipped: int = 0  # sessions already stored by an earlier import


def export_sessions(db: Session, session_ids: list[int] | None = None) -> Archive:
    """An archive of the given sessions (every one when None), oldest first."""
    query = select(database.ChatSession).options(selectinload(database.ChatSession.messages))
    if session_ids is not None:
        query = query.where(database.ChatSession.id.in_(session_ids))
    rows = db.scalars(query.order_by(database.ChatSession.id)).all()
    return Archive(exported_at=datetime.now(UTC), sessions=[_archived(row) for row in rows])


def _archived(row: database.ChatSession) -> ArchivedSession:
    messages = []
    for previous, message in zip([None, *row.messages], row.messages, strict=False):
        columns = {name: getattr(message, name) for name in _MESSAGE_COLUMNS}
        # Today a session is a line: each message follows the one before it.
        messages.append(
            ArchivedMessage(id=message.id, parent_id=previous.id if previous else None, **columns)
        )
    return ArchivedSession(
        id=row.id,
        origin=row.origin,
        title=row.title,
        provider=row.provider,
        model=row.model,
        system_prompt=row.system_prompt,
        chat_id=row.chat_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        current_leaf_id=messages[-1].id if messages else None,
        messages=messages,
    )


def import_sessions(db: Session, sessions: list[ArchivedSession]) -> ImportResult:
    """Store the sessions not imported before (by their `import_key`), with new ids, order kept."""
    stored = set(
        db.scalars(select(database.ChatSession.origin).where(database.ChatSession.origin.is_not(None)))
    )
    wanted = {s.chat_id for s in sessions if s.chat_id}
    taken = set(
        db.scalars(select(database.ChatSession.chat_id).where(database.ChatSession.chat_id.in_(wanted)))
    )
    result = ImportResult()
    for archived in sessions:
        key = archived.import_key()
        if key in stored:
            result.skipped += 1
            continue
        stored.add(key)
        # A chat id names one conversation of the simple chat API: the one already here keeps it.
        chat_id = archived.chat_id if archived.chat_id not in taken else None
        taken.add(chat_id)
        result.imported.append(_store(db, archived, key, chat_id))
    return result


def _store(db: Session, archived: ArchivedSession, origin: str, chat_id: str | None) -> int:
    fields = archived.model_dump(
        include={"title", "provider", "model", "system_prompt", "created_at", "updated_at"}
    )
    session_id = int(
        db.execute(
            insert(database.SESSIONS).returning(database.SESSIONS.c.id),
            {**fields, "origin": origin, "chat_id": chat_id},
        ).scalar_one()
    )
    if archived.messages:
        database.add_messages(db, session_id, [_row(m) for m in archived.messages], touch=False)
    return session_id


def _row(message: ArchivedMessage) -> dict[str, Any]:
    row = message.model_dump(include=set(_MESSAGE_COLUMNS))
    if row["status"] == "streaming":
        row["status"] = "interrupted"  # no process here is writing it
    return row
