"""Turns that open a branch: a new version of a user message, another reply to the same message.

Both are ordinary chat turns (generation.turn.start_turn) placed below a chosen parent instead of
the session's current leaf; the vendor's context is exactly the path to that parent. A branch is
refused while another reply of the session is generating (409 naming it, docs/design.md).

`session_id` may be None for a caller that knows only the message (seed 003's
`PATCH /messages/{message_id}`): the message's own session is used.
"""

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row

import database
from conversation import store
from conversation.schemas import EditRequest, RegenerateRequest
from generation.manager import GenerationManager
from generation.turn import LOCAL, Attach, Caller, Started, start_turn
from provider_registry import ProviderRegistry


async def edit_message(
    manager: GenerationManager,
    registry: ProviderRegistry,
    session_id: int | None,
    message_id: int,
    body: EditRequest,
    caller: Caller = LOCAL,
) -> Started:
    """A sibling of user message `message_id` with the new text, and a reply to it; the old branch stays."""
    session, original = await _branch_point(manager, session_id, message_id, "user", caller.user_id)
    turn = body.chat_request(session.id, session.provider, session.model, [body.message()])
    return await start_turn(manager, registry, turn, caller=caller, attach=Attach(original.parent_id))


async def regenerate(
    manager: GenerationManager,
    registry: ProviderRegistry,
    session_id: int | None,
    message_id: int,
    body: RegenerateRequest,
    caller: Caller = LOCAL,
) -> Started:
    """A sibling of reply `message_id`: another answer to the same message, maybe by another model."""
    session, original = await _branch_point(manager, session_id, message_id, "assistant", caller.user_id)
    provider, model = original.provider or session.provider, original.model or session.model
    turn = body.chat_request(session.id, provider, model, [])
    return await start_turn(manager, registry, turn, caller=caller, attach=Attach(original.parent_id))


async def _branch_point(
    manager: GenerationManager, session_id: int | None, message_id: int, role: str, user_id: int
) -> tuple[Row[Any], Row[Any]]:
    return await manager.db.run_core(_read_branch_point, session_id, message_id, role, user_id)


def _read_branch_point(
    db: database.SqlRunner, session_id: int | None, message_id: int, role: str, user_id: int
) -> tuple[Row[Any], Row[Any]]:
    if session_id is None:
        found = db.execute(
            select(database.MESSAGES.c.session_id).where(database.MESSAGES.c.id == message_id)
        ).scalar()
        if found is None:
            raise database.NotFoundError(f"Message {message_id} not found")
        session_id = int(found)
    session = store.session_head(db, session_id, user_id)
    return session, store.require_message(
        database.session_history(db, session_id), session_id, message_id, role
    )
