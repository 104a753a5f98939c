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
from generation.manager import GenerationManager
from generation.recovery import ServiceDraining
from generation.reply import Reply
from generation.running import Generation
from media import check_media
from models import MEDIA_FIELDS, ApiError, ChatRequest
from provider_registry import ProviderRegistry
from providers.base import LLMProvider, ProviderRequest, Turn
from titles.titler import FirstTurn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Started:
    generation: Generation
    ignored: list[str]


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
        thought_signatures=tuple(row.thought_signatures or ()) if own else (),
        reasoning=row.thought_process or "",
    )


def _in_context(row: StoredMessage) -> bool:
    # A reply still being written, or one that failed before any text, is not context.
    return row.status != "streaming" and bool(row.content or row.images or row.videos or row.audios)


def default_title(body: ChatRequest) -> str:
    if body.title:
        return body.title
    first = next((m.content for m in body.messages if m.role == "user" and m.content), "")
    text = " ".join(first.split())
    return (text[:47] + "...") if len(text) > 50 else (text or "New Chat")


async def start_turn(
    manager: GenerationManager, registry: ProviderRegistry, body: ChatRequest, *, chat_id: str | None = None
) -> Started:
    """Store the new message(s), create the assistant row, and launch its generation.

    A new session (no `session_id`) gets `chat_id`, its id in the simple chat API, if one is given,
    and SYSTEM_PROMPT_FILE's prompt if the request gives none.
    """
    if manager.draining:
        raise ServiceDraining()
    provider = await registry.ready(body.message_provider or body.provider)
    model = body.message_model or body.model
    params, media, ignored = split_options(body.sent_options(), provider, model)
    provider.check_params(params, model)
    # Media the provider cannot take (or a path outside uploads/) is refused before anything is stored.
    await check_media(body.messages, provider.media, provider.label, manager.settings.upload_dir)
    if body.session_id is None and body.system_prompt is None:
        body = body.model_copy(update={"system_prompt": await manager.default_prompt.read()})
    # Once stored, the turn is launched even if this request is cancelled meanwhile: a stored
    # `streaming` row always has a generation that ends it.
    launching = asyncio.ensure_future(_store_and_launch(manager, body, provider, params, media, chat_id))
    return Started(await asyncio.shield(launching), ignored)


async def _store_and_launch(
    manager: GenerationManager,
    body: ChatRequest,
    provider: LLMProvider,
    params: dict[str, Any],
    media: dict[str, Any],
    chat_id: str | None = None,
) -> Generation:
    model = body.message_model or body.model
    stored = await manager.db.run_core(_store_turn, body, provider.id, model, chat_id)
    turns = (
        *stored.history,
        *(
            Turn(m.role, m.content, tuple(m.images or ()), tuple(m.videos or ()), tuple(m.audios or ()))
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
    db: Connection, body: ChatRequest, provider_id: str, model: str, chat_id: str | None
) -> StoredTurn:
    """One unit of work: find or create the session, read its history, insert the new rows."""
    if body.session_id is None:
        session_id = database.create_session(
            db,
            title=default_title(body),
            provider=body.provider,
            model=body.model,
            system_prompt=body.system_prompt,
            chat_id=chat_id,
        )
        system_prompt = body.system_prompt
        history: list[Turn] = []  # a session made just now has no history to read back
    else:
        session_id = body.session_id
        system_prompt, history = _session_context(db, session_id, provider_id)
    rows = [_row(m.role, m.content, m.images, m.videos, m.audios) for m in body.messages]
    rows.append(_row("assistant", "", provider=provider_id, model=model, status="streaming"))
    *_, reply_id = database.add_messages(db, session_id, rows, touch=body.session_id is not None)
    return StoredTurn(session_id, system_prompt, history, reply_id)


def _session_context(
    db: database.SqlRunner, session_id: int, provider: str, before: int | None = None
) -> tuple[str | None, list[Turn]]:
    """A session's system prompt and its stored turns before `before` that are context for `provider`."""
    session = database.session_prompt(db, session_id)
    if session is None:
        raise database.NotFoundError(f"Session {session_id} not found")
    rows = database.session_history(db, session_id)
    earlier = [m for m in rows if _in_context(m) and (before is None or m.id < before)]
    history = [history_turn(m, provider) for m in earlier]
    return session.system_prompt, history


def _row(
    role: str,
    content: str,
    images: list[str] | None = None,
    videos: list[str] | None = None,
    audios: list[str] | None = None,
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


def _reopen_reply(
    db: Session, message_id: int, registry: ProviderRegistry
) -> tuple[database.ChatMessage, LLMProvider, str | None, list[Turn]]:
    """One unit of work: check the reply can be continued, read what came before, mark it streaming."""
    row = database.get_message(db, message_id)
    if row is None or row.role != "assistant":
        raise database.NotFoundError(f"Assistant message {message_id} not found")
    if row.status not in CONTINUABLE and row.finish_reason != "length":
        raise NotContinuable(
            f"Message {message_id} is {row.status} (finish_reason {row.finish_reason}); "
            "only stopped, error, interrupted or length-limited replies can be continued"
        )
    # A vendor no longer configured is refused before the row changes.
    provider = registry.get(row.provider or "")
    system_prompt, history = _session_context(db, row.session_id, provider.id, before=row.id)
    database.update_message(db, row.id, status="streaming", error=None, finish_reason=None)
    return row, provider, system_prompt, history


async def start_continue(manager: GenerationManager, registry: ProviderRegistry, message_id: int) -> Started:
    """Ask the model to go on with an incomplete reply, appending to the same message."""
    if manager.draining:
        raise ServiceDraining()
    if message_id in manager.active:
        raise NotContinuable(f"Message {message_id} is still generating")
    # As in start_turn: a row marked streaming again is always driven by a generation.
    launching = asyncio.ensure_future(_reopen_and_launch(manager, registry, message_id))
    return Started(await asyncio.shield(launching), [])


async def _reopen_and_launch(
    manager: GenerationManager, registry: ProviderRegistry, message_id: int
) -> Generation:
    row, provider, system_prompt, history = await manager.db.run(_reopen_reply, message_id, registry)
    turns = (*history, Turn("assistant", row.content), Turn("user", CONTINUE_PROMPT))
    request = ProviderRequest(model=row.model or "", messages=turns, system_prompt=system_prompt)
    return await manager.launch(row.session_id, row.id, provider, request, Reply.continuing(row))
