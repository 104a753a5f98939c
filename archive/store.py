"""Archives out of and into the database: one unit of work each, an import all or nothing."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, selectinload

import database
from archive.ours import Archive, ArchivedMessage, ArchivedSession

# Columns a message keeps as they are, in an archive and in the database alike.
_MESSAGE_COLUMNS = tuple(name for name in ArchivedMessage.model_fields if name not in ("id", "parent_id"))


@dataclass
class ImportResult:
    imported: list[int] = field(default_factory=list)  # the new sessions' ids, in the file's order
    skipped: int = 0  # sessions already stored by an earlier import


def export_sessions(db: Session, user_id: int, session_ids: list[int] | None = None) -> Archive:
    """An archive of `user_id`'s given sessions (every one when None), oldest first."""
    query = (
        select(database.ChatSession)
        .options(selectinload(database.ChatSession.messages))
        .where(database.ChatSession.user_id == user_id)
    )
    if session_ids is not None:
        query = query.where(database.ChatSession.id.in_(session_ids))
    rows = db.scalars(query.order_by(database.ChatSession.id)).all()
    return Archive(exported_at=datetime.now(UTC), sessions=[_archived(row) for row in rows])


def _archived(row: database.ChatSession) -> ArchivedSession:
    # Every branch of the tree, oldest first: a parent is always older than its children.
    messages = [
        ArchivedMessage(
            id=message.id,
            parent_id=message.parent_id,
            **{name: getattr(message, name) for name in _MESSAGE_COLUMNS},
        )
        for message in row.messages
    ]
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
        current_leaf_id=row.current_leaf_id,
        messages=messages,
    )


def import_sessions(db: Session, user_id: int, sessions: list[ArchivedSession]) -> ImportResult:
    """Store as `user_id`'s the sessions they have not imported before (by `import_key`), with new ids."""
    own = database.ChatSession.user_id == user_id
    stored = set(
        db.scalars(select(database.ChatSession.origin).where(own, database.ChatSession.origin.is_not(None)))
    )
    wanted = {s.chat_id for s in sessions if s.chat_id}
    taken = set(
        db.scalars(select(database.ChatSession.chat_id).where(own, database.ChatSession.chat_id.in_(wanted)))
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
        result.imported.append(_store(db, user_id, archived, key, chat_id))
    return result


def _store(db: Session, user_id: int, archived: ArchivedSession, origin: str, chat_id: str | None) -> int:
    fields = archived.model_dump(
        include={"title", "provider", "model", "system_prompt", "created_at", "updated_at"}
    )
    session_id = int(
        db.execute(
            insert(database.SESSIONS).returning(database.SESSIONS.c.id),
            {**fields, "origin": origin, "chat_id": chat_id, "user_id": user_id},
        ).scalar_one()
    )
    # New ids, the tree kept: each message is stored below its parent's new id (parents come first).
    new_ids: dict[int, int] = {}
    for message in archived.messages:
        parent = new_ids[message.parent_id] if message.parent_id is not None else None
        (new_ids[message.id],) = database.add_messages(
            db, session_id, [{**_row(message), "parent_id": parent}], touch=False
        )
    leaf = archived.current_leaf_id if archived.current_leaf_id is not None else _last_id(archived)
    if leaf is not None:
        db.execute(
            update(database.SESSIONS)
            .where(database.SESSIONS.c.id == session_id)
            .values(current_leaf_id=new_ids[leaf])
        )
    return session_id


def _last_id(archived: ArchivedSession) -> int | None:
    return archived.messages[-1].id if archived.messages else None


def _row(message: ArchivedMessage) -> dict[str, Any]:
    row = message.model_dump(include=set(_MESSAGE_COLUMNS))
    if row["status"] == "streaming":
        row["status"] = "interrupted"  # no process here is writing it
    return row
