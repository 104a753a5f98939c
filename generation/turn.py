"""Starting a turn: store the user's message(s), create the assistant row, launch its generation.

A turn starts from POST /chat (a new reply) or POST /chat/{id}/continue (a stored reply goes on);
whatever streams it (SSE today) follows the generation's event log.

Everything a request must pass (provider known and configured, media it can take, session found)
is checked before anything is stored, so a refused request leaves no trace.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

import database
from auth.service import AuthService
from auth.store import owned_files
from conversation import paths, store
from generation.manager import GenerationManager
from generation.recovery import ServiceDraining
from generation.reply import Reply
from generation.running import Generation
from media import UPLOAD_PREFIX, MediaError, check_media, media_items
from models import MEDIA_FIELDS, ApiError, ChatMessageIn, ChatRequest
from provider_registry import ProviderRegistry
from providers.base import LLMProvider, ProviderRequest, Turn
from titles.titler import FirstTurn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Started:
    generation: Generation
    ignored: list[str]


@dataclass(frozen=True, slots=True)
class Attach:
    """Where a turn's new messages go in its session's tree: below `parent_id` (None: a new root).

    A turn without one goes below the session's current leaf. A branch is refused while another
    reply of the session is generating (conversation.store.BranchConflict).
    """

    parent_id: int | None
    branch: bool = True


def split_options(
    options: Mapping[str, Any], provider: LLMProvider, model: str
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Sort the sent options into vendor parameters, media settings, and those this model ignores."""
    params = {k: v for k, v in options.items() if k not in MEDIA_FIELDS and provider.accepts(k, model)}
    media = {k: v for k, v in options.items() if k in provider.media_params}
    ignored = sorted(set(options) - set(params) - set(media))
    return params, media, ignored


class StoredMessage(Protocol):
    """A stored message as the history needs it (a Core row of ChatMessage's columns)."""

    id: int
    role: str
    content: str
    status: str
    images: list[str] | None
    videos: list[str] | None
    audios: list[str] | None
    documents: list[str] | None
    thought_signatures: list[str] | None
    thought_process: str | None
    provider: str | None


def history_turn(row: StoredMessage, provider: str) -> Turn:
    """A stored message as context for `provider`."""
    # Signatures are opaque tokens of the vendor that wrote the reply: a chat that switches
    # vendors must not hand one vendor's to another.
    own = row.provider is None or row.provider == provider
    return Turn(
        role=row.role,
        content=row.content,
        images=tuple(row.images or ()),
        videos=tuple(row.videos or ()),
        audios=tuple(row.audios or ()),
        documents=tuple(row.documents or ()),
        thought_signatures=tuple(row.thought_signatures or ()) if own else (),
        reasoning=row.thought_process or "",
    )


def _in_context(row: StoredMessage) -> bool:
    # A reply still being written, or one that failed before any text, is not context.
    return row.status != "streaming" and bool(
        row.content or row.images or row.videos or row.audios or row.documents
    )


def default_title(body: ChatRequest) -> str:
    if body.title:
        return body.title
    first = next((m.content for m in body.messages if m.role == "user" and m.content), "")
    text = " ".join(first.split())
    return (text[:47] + "...") if len(text) > 50 else (text or "New Chat")


@dataclass(frozen=True, slots=True)
class Caller:
    """Whose turn it is: the session's owner, and the accounts service that picks their vendor key.

    Without a service (tests that start turns themselves), the operator's keys serve the turn.
    """

    user_id: int = database.LOCAL_USER_ID
    auth: AuthService | None = None

    async def provider(self, registry: ProviderRegistry, provider_id: str) -> LLMProvider:
        if self.auth is None:
            return await registry.ready(provider_id)
        return await self.auth.provider_for(self.user_id, provider_id, registry)


LOCAL = Caller()


async def start_turn(
    manager: GenerationManager,
    registry: ProviderRegistry,
    body: ChatRequest,
    *,
    chat_id: str | None = None,
    caller: Caller = LOCAL,
    attach: Attach | None = None,
) -> Started:
    """Store the new message(s), create the assistant row, and launch its generation.

    A new session (no `session_id`) gets `chat_id`, its id in the simple chat API, if one is given,
    and SYSTEM_PROMPT_FILE's prompt if the request gives none. An existing session must be the caller's.
    The new messages go below the session's current leaf, or where `attach` says; the context is
    the path to their parent.
    """
    if manager.draining:
        raise ServiceDraining()
    provider = await caller.provider(registry, body.message_provider or body.provider)
    model = body.message_model or body.model
    params, media, ignored = split_options(body.sent_options(), provider, model)
    provider.check_params(params, model)
    # Media the provider cannot take (or a path outside uploads/) is refused before anything is stored.
    await check_media(body.messages, provider.media, provider.label, manager.settings.upload_dir)
    if caller.auth is not None and not caller.auth.off:
        await _check_own_uploads(manager, caller.user_id, body.messages)
    if body.session_id is None and body.system_prompt is None:
        body = body.model_copy(update={"system_prompt": await manager.default_prompt.read()})
    # Once stored, the turn is launched even if this request is cancelled meanwhile: a stored
    # `streaming` row always has a generation that ends it.
    launching = asyncio.ensure_future(
        _store_and_launch(manager, body, provider, params, media, chat_id, caller.user_id, attach)
    )
    return Started(await asyncio.shield(launching), ignored)


async def _check_own_uploads(manager: GenerationManager, user_id: int, messages: list[ChatMessageIn]) -> None:
    """Another user's upload is refused as if it did not exist."""
    urls = [url for message in messages for _, url in media_items(message) if url.startswith(UPLOAD_PREFIX)]
    if not urls:
        return
    owned = await manager.db.run_core(owned_files, user_id, [url.removeprefix(UPLOAD_PREFIX) for url in urls])
    for url in urls:
        if url.removeprefix(UPLOAD_PREFIX) not in owned:
            raise MediaError(f"Uploaded file not found: {url}")


async def _store_and_launch(
    manager: GenerationManager,
    body: ChatRequest,
    provider: LLMProvider,
    params: dict[str, Any],
    media: dict[str, Any],
    chat_id: str | None = None,
    user_id: int = database.LOCAL_USER_ID,
    attach: Attach | None = None,
) -> Generation:
    model = body.message_model or body.model
    stored = await manager.db.run_core(_store_turn, body, provider.id, model, chat_id, user_id, attach)
    turns = (
        *stored.history,
        *(
            Turn(
                m.role,
                m.content,
                images=tuple(m.images or ()),
                videos=tuple(m.videos or ()),
                audios=tuple(m.audios or ()),
                documents=tuple(m.documents or ()),
            )
            for m in body.messages
        ),
    )
    request = ProviderRequest(
        model=model,
        messages=turns,
        system_prompt=body.system_prompt or stored.system_prompt,
        params=params,
        media_options=media,
    )
    generation = await manager.launch(stored.session_id, stored.reply_id, provider, request)
    if body.session_id is None and manager.titler is not None:
        question = next((m.content for m in body.messages if m.role == "user" and m.content), "")
        manager.titler.follow(generation, FirstTurn(stored.session_id, default_title(body), question))
    return generation


@dataclass(frozen=True, slots=True)
class StoredTurn:
    session_id: int
    system_prompt: str | None
    history: list[Turn]
    reply_id: int


def _store_turn(
    db: Connection,
    body: ChatRequest,
    provider_id: str,
    model: str,
    chat_id: str | None,
    user_id: int,
    attach: Attach | None = None,
) -> StoredTurn:
    """One unit of work: find or create the session, read the path to the new messages' parent, add them."""
    if body.session_id is None:
        session_id = database.create_session(
            db,
            title=default_title(body),
            provider=body.provider,
            model=body.model,
            system_prompt=body.system_prompt,
            chat_id=chat_id,
            user_id=user_id,
        )
        system_prompt, parent = body.system_prompt, None
        history: list[Turn] = []  # a session made just now has no history to read back
    else:
        session_id = body.session_id
        system_prompt, parent, history = _session_context(
            db, session_id, provider_id, attach, user_id=user_id
        )
    rows = [message_row(m.role, m.content, m.images, m.videos, m.audios, m.documents) for m in body.messages]
    rows.append(message_row("assistant", "", provider=provider_id, model=model, status="streaming"))
    *_, reply_id = store.add_branch(db, session_id, parent, rows, touch=body.session_id is not None)
    return StoredTurn(session_id, system_prompt, history, reply_id)


def _session_context(
    db: database.SqlRunner, session_id: int, provider: str, attach: Attach | None = None, *, user_id: int
) -> tuple[str | None, int | None, list[Turn]]:
    """A session's system prompt, the parent of new messages, and the path to it as context for `provider`.

    Another user's session is not found.
    """
    head = store.session_head(db, session_id, user_id)
    rows = database.session_history(db, session_id)
    parent = head.current_leaf_id
    if attach is not None:
        if attach.parent_id is not None:
            store.require_message(rows, session_id, attach.parent_id)
        if attach.branch:
            store.refuse_if_generating(rows, session_id)
        parent = attach.parent_id
    history = [history_turn(m, provider) for m in paths.path_to(rows, parent) if _in_context(m)]
    return head.system_prompt, parent, history


def message_row(
    role: str,
    content: str,
    images: list[str] | None = None,
    videos: list[str] | None = None,
    audios: list[str] | None = None,
    documents: list[str] | None = None,
    *,
    provider: str | None = None,
    model: str | None = None,
    status: str = "complete",
) -> dict[str, Any]:
    # Every row carries the same columns, so one INSERT takes them all.
    return {
        "role": role,
        "content": content,
        "images": images,
        "videos": videos,
        "audios": audios,
        "documents": documents,
        "provider": provider,
        "model": model,
        "status": status,
    }


CONTINUABLE = frozenset({"stopped", "error", "interrupted"})
CONTINUE_PROMPT = (
    "Your previous reply was cut off. Continue it exactly where it stopped, without repeating "
    "anything and without any preamble."
)


class NotContinuable(ApiError):
    status_code = 409


def continuable(db: Session, message_id: int, user_id: int) -> database.ChatMessage:
    """The caller's assistant message `message_id`, if it can be continued."""
    row = database.owned_message(db, message_id, user_id)
    if row is None or row.role != "assistant":
        raise database.NotFoundError(f"Assistant message {message_id} not found")
    if row.status not in CONTINUABLE and row.finish_reason != "length":
        raise NotContinuable(
            f"Message {message_id} is {row.status} (finish_reason {row.finish_reason}); "
            "only stopped, error, interrupted or length-limited replies can be continued"
        )
    return row


def _reopen_reply(
    db: Session, message_id: int, provider: LLMProvider, user_id: int
) -> tuple[database.ChatMessage, str | None, list[Turn]]:
    """One unit of work: check the reply can be continued, read what came before, mark it streaming."""
    row = continuable(db, message_id, user_id)
    # The context of a reply is the path to its parent, whatever branch the session shows.
    system_prompt, _, history = _session_context(
        db, row.session_id, provider.id, Attach(row.parent_id, False), user_id=user_id
    )
    database.update_message(db, row.id, status="streaming", error=None, finish_reason=None)
    return row, system_prompt, history


async def start_continue(
    manager: GenerationManager, registry: ProviderRegistry, message_id: int, *, caller: Caller = LOCAL
) -> Started:
    """Ask the model to go on with an incomplete reply, appending to the same message."""
    if manager.draining:
        raise ServiceDraining()
    if message_id in manager.active:
        raise NotContinuable(f"Message {message_id} is still generating")
    # As in start_turn: a row marked streaming again is always driven by a generation.
    launching = asyncio.ensure_future(_reopen_and_launch(manager, registry, message_id, caller))
    return Started(await asyncio.shield(launching), [])


async def _reopen_and_launch(
    manager: GenerationManager, registry: ProviderRegistry, message_id: int, caller: Caller
) -> Generation:
    # A vendor no longer configured (or no key of the caller's) is refused before the row changes.
    found = await manager.db.run(continuable, message_id, caller.user_id)
    provider = await caller.provider(registry, found.provider or "")
    row, system_prompt, history = await manager.db.run(_reopen_reply, message_id, provider, caller.user_id)
    turns = (*history, Turn("assistant", row.content), Turn("user", CONTINUE_PROMPT))
    request = ProviderRequest(model=row.model or "", messages=turns, system_prompt=system_prompt)
    return await manager.launch(row.session_id, row.id, provider, request, Reply.continuing(row))
