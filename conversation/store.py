"""The tree in the database: reading paths, siblings and whole trees, adding branches, moving the leaf.

Each function is one unit of work's worth, taking the Session or Connection first (database.py's
convention). A session's rows are read whole and walked in memory (conversation.paths), as the
history of a turn always was: one query, however deep the tree.
"""

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.engine import Row

import database
from conversation import paths
from database import MESSAGES, SESSIONS, NotFoundError, SqlRunner
from models import ApiError

_SESSION_HEAD = select(
    SESSIONS.c.id,
    SESSIONS.c.provider,
    SESSIONS.c.model,
    SESSIONS.c.system_prompt,
    SESSIONS.c.current_leaf_id,
    SESSIONS.c.user_id,
).where(SESSIONS.c.id == bindparam("session_id_"))
_INSERT_MESSAGE = insert(MESSAGES).returning(MESSAGES.c.id)
_UPDATE_SESSION = update(SESSIONS).where(SESSIONS.c.id == bindparam("session_id_"))


class BranchConflict(ApiError):
    """A new branch while a reply of the same session is generating (see docs/design.md)."""

    status_code = 409

    def __init__(self, session_id: int, running: int) -> None:
        super().__init__(
            f"Session {session_id} is generating reply {running}: a new branch starts once it has ended "
            f"(stop it with POST /stream/{running}/abort, or wait for it)"
        )
        self.running = running

    def extra(self) -> dict[str, Any]:
        return {"running_message_id": self.running}


def session_head(db: SqlRunner, session_id: int, user_id: int | None = None) -> Row[Any]:
    """A session's id, provider, model, system prompt, current leaf and owner.

    404 when there is no such session, or when `user_id` is given and the session is another user's.
    """
    head = cast(Row[Any] | None, db.execute(_SESSION_HEAD, {"session_id_": session_id}).first())
    if head is None or user_id not in (None, head.user_id):
        raise NotFoundError(f"Session {session_id} not found")
    return head


def current_path(db: SqlRunner, session_id: int) -> list[Row[Any]]:
    """The session's messages from the root to its current leaf: what the session shows."""
    head = session_head(db, session_id)
    return paths.path_to(database.session_history(db, session_id), head.current_leaf_id)


def require_message(
    rows: Sequence[Row[Any]], session_id: int, message_id: int, role: str | None = None
) -> Row[Any]:
    """The message `message_id` among a session's rows (of `role`, if given); 404 naming it otherwise."""
    found = paths.by_id(rows).get(message_id)
    if found is None or (role is not None and found.role != role):
        kind = {"user": "User message", "assistant": "Assistant message"}.get(role or "", "Message")
        raise NotFoundError(f"{kind} {message_id} not found in session {session_id}")
    return found


def message_in_session(db: SqlRunner, session_id: int, message_id: int, role: str | None = None) -> Row[Any]:
    session_head(db, session_id)
    return require_message(database.session_history(db, session_id), session_id, message_id, role)


def refuse_if_generating(rows: Sequence[Row[Any]], session_id: int) -> None:
    """Refuse a new branch while a reply of the session is still generating (409 naming it)."""
    running = next((row.id for row in rows if row.status == "streaming"), None)
    if running is not None:
        raise BranchConflict(session_id, running)


def add_branch(
    db: SqlRunner, session_id: int, parent_id: int | None, rows: list[dict[str, Any]], *, touch: bool
) -> list[int]:
    """Insert `rows` as a chain below `parent_id` and make the last one the session's current leaf."""
    ids: list[int] = []
    parent = parent_id
    for row in rows:
        parent = db.execute(
            _INSERT_MESSAGE, {**row, "session_id": session_id, "parent_id": parent}
        ).scalar_one()
        ids.append(parent)
    values: dict[str, Any] = {"session_id_": session_id, "current_leaf_id": parent}
    if touch:
        values["updated_at"] = database.utcnow()
    db.execute(_UPDATE_SESSION, values)
    return ids


def siblings(db: SqlRunner, session_id: int, message_id: int, user_id: int | None = None) -> list[Row[Any]]:
    """The versions of a message: every message of its session with the same parent, itself included."""
    session_head(db, session_id, user_id)
    rows = database.session_history(db, session_id)
    message = require_message(rows, session_id, message_id)
    return [row for row in rows if row.parent_id == message.parent_id]


def set_leaf(db: SqlRunner, session_id: int, message_id: int, user_id: int | None = None) -> int:
    """Show the branch through `message_id`: the leaf becomes the newest leaf below it. Returns it."""
    session_head(db, session_id, user_id)
    rows = database.session_history(db, session_id)
    require_message(rows, session_id, message_id)
    leaf = paths.newest_leaf_below(rows, message_id)
    db.execute(_UPDATE_SESSION, {"session_id_": session_id, "current_leaf_id": leaf})
    return leaf


def tree(db: SqlRunner, session_id: int, user_id: int | None = None) -> tuple[Row[Any], Sequence[Row[Any]]]:
    """The session's head and every message of its tree, oldest first."""
    return session_head(db, session_id, user_id), database.session_history(db, session_id)


def truncate(db: SqlRunner, session_id: int, message_id: int) -> bool:
    """Delete a message and everything below it; False when it is not in that session.

    On the current path this is what truncate always meant (that message and every later one);
    the session then shows the path to the message's parent.
    """
    head = session_head(db, session_id)
    rows = database.session_history(db, session_id)
    message = paths.by_id(rows).get(message_id)
    if message is None:
        return False
    doomed = paths.branch_of(rows, message_id)
    # One statement: the parent_id foreign key is checked once the whole branch is gone.
    db.execute(delete(MESSAGES).where(MESSAGES.c.id.in_(sorted(doomed))))
    values: dict[str, Any] = {"session_id_": session_id, "updated_at": database.utcnow()}
    if head.current_leaf_id in doomed:
        values["current_leaf_id"] = message.parent_id
    db.execute(_UPDATE_SESSION, values)
    return True
