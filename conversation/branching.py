"""Turns that open a branch: a new version of a user message, another reply to the same message.

Both are ordinary chat turns (generation.turn.start_turn) placed below a chosen parent instead of
the session's current leaf; the vendor's context is exactly the path to that parent. A branch is
refused while another reply of the session is generating (409 naming it, docs/design.md).
"""

from conversation import store
from conversation.schemas import EditRequest, RegenerateRequest
from generation.manager import GenerationManager
from generation.turn import Attach, Started, start_turn
from provider_registry import ProviderRegistry


async def edit_message(
    manager: GenerationManager,
    registry: ProviderRegistry,
    session_id: int,
    message_id: int,
    body: EditRequest,
) -> Started:
    """A sibling of user message `message_id` with the new text, and a reply to it; the old branch stays."""
    session = await manager.db.run_core(store.session_head, session_id)
    original = await manager.db.run_core(store.message_in_session, session_id, message_id, "user")
    turn = body.chat_request(session_id, session.provider, session.model, [body.message()])
    return await start_turn(manager, registry, turn, attach=Attach(original.parent_id))


async def regenerate(
    manager: GenerationManager,
    registry: ProviderRegistry,
    session_id: int,
    message_id: int,
    body: RegenerateRequest,
) -> Started:
    """A sibling of reply `message_id`: another answer to the same message, maybe by another model."""
    session = await manager.db.run_core(store.session_head, session_id)
    original = await manager.db.run_core(store.message_in_session, session_id, message_id, "assistant")
    provider, model = original.provider or session.provider, original.model or session.model
    turn = body.chat_request(session_id, provider, model, [])
    return await start_turn(manager, registry, turn, attach=Attach(original.parent_id))
