"""The conversation tree of a session, beside the sessions routes.

The whole tree, a message's versions, the branch shown, and the turns that open a branch (edit a
user message, regenerate a reply), answered as POST /chat answers.
"""

from fastapi import APIRouter, Response

from auth.current_user import Auth, CurrentUser
from conversation import branching, store
from conversation.schemas import EditRequest, LeafUpdate, RegenerateRequest, TreeNode, TreeOut
from generation.turn import Caller
from limits.dependency import ChatLimits
from models import MessageOut, SessionDetail
from routers.chat import RESUMABLE, SSE_OR_JSON, TURN_REFUSED, answer_turn
from routers.deps import Db, Manager, MessageId, Registry, SessionId
from routers.errors import (
    BRANCH_CONFLICT,
    MESSAGE_NOT_FOUND,
    SESSION_NOT_FOUND,
    UNREADABLE_BODY,
    UNUSABLE_MEDIA,
    responses,
)
from routers.sessions import session_detail, with_live_state

router = APIRouter(prefix="/sessions", tags=["conversation tree"])
NOT_FOUND = responses(SESSION_NOT_FOUND, MESSAGE_NOT_FOUND)
BRANCH_REFUSED = responses(SSE_OR_JSON, TURN_REFUSED, UNUSABLE_MEDIA, NOT_FOUND, BRANCH_CONFLICT)


@router.get("/{session_id}/tree", responses=SESSION_NOT_FOUND)
async def session_tree(db: Db, manager: Manager, user: CurrentUser, session_id: SessionId) -> TreeOut:
    """Every message of every branch, oldest first, each with its parent and children."""
    head, rows = await db.run(store.tree, session_id, user.id)
    below: dict[int | None, list[int]] = {}
    for row in rows:
        below.setdefault(row.parent_id, []).append(row.id)
    nodes = [
        TreeNode.model_validate(row).model_copy(update={"children": below.get(row.id, [])}) for row in rows
    ]
    return TreeOut(
        session_id=head.id,
        current_leaf_id=head.current_leaf_id,
        messages=await with_live_state(manager, nodes),
    )


@router.get("/{session_id}/messages/{message_id}/siblings", responses=NOT_FOUND)
async def message_siblings(
    db: Db, user: CurrentUser, session_id: SessionId, message_id: MessageId
) -> list[MessageOut]:
    """The versions of a message (same parent), itself included, oldest first."""
    versions = await db.run(store.siblings, session_id, message_id, user.id)
    return [MessageOut.model_validate(row) for row in versions]


@router.put("/{session_id}/leaf", responses=responses(UNREADABLE_BODY, NOT_FOUND))
async def switch_branch(
    db: Db, manager: Manager, user: CurrentUser, session_id: SessionId, body: LeafUpdate
) -> SessionDetail:
    """Show the branch through `message_id` (down to its newest leaf); answers the session as it now reads."""
    await db.run(store.set_leaf, session_id, body.message_id, user.id)
    detail = await db.run(session_detail, session_id, user.id)
    detail.messages = await with_live_state(manager, detail.messages)
    return detail


@router.post("/{session_id}/messages/{message_id}/edit", responses=BRANCH_REFUSED, dependencies=[ChatLimits])
async def edit_message(
    registry: Registry,
    manager: Manager,
    user: CurrentUser,
    auth: Auth,
    session_id: SessionId,
    message_id: MessageId,
    body: EditRequest,
    resumable: bool = RESUMABLE,
) -> Response:
    """A new version of a user message and a reply to it, on a new branch; the old branch is kept."""
    caller = Caller(user.id, auth)
    started = await branching.edit_message(manager, registry, session_id, message_id, body, caller)
    return await answer_turn(started, body.stream, manager, resumable=resumable)


@router.post(
    "/{session_id}/messages/{message_id}/regenerate", responses=BRANCH_REFUSED, dependencies=[ChatLimits]
)
async def regenerate(
    registry: Registry,
    manager: Manager,
    user: CurrentUser,
    auth: Auth,
    session_id: SessionId,
    message_id: MessageId,
    body: RegenerateRequest | None = None,
    resumable: bool = RESUMABLE,
) -> Response:
    """Another reply to the message a reply answers, as its sibling; optionally by another provider/model."""
    body = body or RegenerateRequest()
    started = await branching.regenerate(
        manager, registry, session_id, message_id, body, Caller(user.id, auth)
    )
    return await answer_turn(started, body.stream, manager, resumable=resumable)
