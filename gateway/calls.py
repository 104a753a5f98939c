"""A front-door call as a chat turn: vendor requests built, the call stored as a session, launched.

The client of Chat Completions sends the whole context each time, and that is what the vendor gets.
What is stored follows our sessions: a new session keeps every message of the context, a session
named by the call (X-Session-Id, or `metadata.session_id`) gets the messages after the context's
last assistant message, the new turn. With STORE_GATEWAY_CALLS=false nothing is stored: the
generation runs on an id no row has, and its reply lives only in memory while it is answered.
"""

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Connection

import database
from auth.errors import NoVendorKey
from conversation import store
from gateway.errors import GatewayError
from gateway.fallbacks import Attempt, FallbackChain
from gateway.routing import Target
from gateway.schemas import OPENAI_WIRE_PARAMS, CompletionRequest, WireMessage
from gateway.service import Gateway
from generation.manager import GenerationManager
from generation.recovery import ServiceDraining
from generation.running import Generation
from generation.turn import Caller, message_row
from media import check_media
from models import ChatMessageIn
from provider_registry import ProviderRegistry
from providers.base import COMMON_PARAMS, LLMProvider, ProviderRequest, Turn
from providers.errors import ProviderNotConfiguredError

# Roles our sessions store; tool results and system messages are context only.
STORED_ROLES = frozenset({"user", "assistant"})


@dataclass(frozen=True, slots=True)
class Call:
    generation: Generation
    stored: bool
    ignored: list[str]


async def start_call(
    manager: GenerationManager,
    registry: ProviderRegistry,
    gateway: Gateway,
    body: CompletionRequest,
    caller: Caller,
    *,
    session_id: int | None,
    label: str | None,
) -> Call:
    """Check everything, then store the call (unless STORE_GATEWAY_CALLS=false) and launch it.

    The call is the caller's: a session it continues must be theirs, a new one is, and their own
    vendor keys serve it. `label` is the request's `user` field, what /usage can group by.
    """
    if manager.draining:
        raise ServiceDraining()
    targets = gateway.routes.targets(body.model)
    attempts, ignored = await _attempts(registry, caller, targets, body, manager.settings.upload_dir)
    chain = FallbackChain(attempts, gateway.breaker, gateway.prices, manager.settings.upload_dir, label)
    store = manager.settings.store_gateway_calls
    # As for a chat turn: once stored, the call is launched even if this request is cancelled.
    launching = asyncio.ensure_future(
        _store_and_launch(manager, body, chain, caller.user_id, session_id if store else None, store)
    )
    return Call(await asyncio.shield(launching), store, ignored)


async def _attempts(
    registry: ProviderRegistry,
    caller: Caller,
    targets: tuple[Target, ...],
    body: CompletionRequest,
    upload_dir: Path,
) -> tuple[list[Attempt], list[str]]:
    attempts: list[Attempt] = []
    ignored: set[str] = set()
    for target in targets:
        try:
            provider = await caller.provider(registry, target.provider)
        except (ProviderNotConfiguredError, NoVendorKey):
            if len(targets) == 1:
                raise
            continue  # a fallback chain goes on with the vendors that are configured
        request, left_out = vendor_request(provider, target.model, body)
        if not provider.speaks_openai:
            await check_media(_media_messages(body), provider.media, provider.label, upload_dir)
        attempts.append(Attempt(provider, request))
        ignored.update(left_out)
    if not attempts:
        names = ", ".join(target.name for target in targets)
        raise GatewayError(f"No provider of '{body.model}' is configured ({names})", param="model")
    return attempts, sorted(ignored)


def vendor_request(
    provider: LLMProvider, model: str, body: CompletionRequest
) -> tuple[ProviderRequest, list[str]]:
    """The request for one target, and the parameters it leaves out (X-Ignored-Parameters)."""
    options = body.options()
    if provider.speaks_openai:
        params = {k: v for k, v in options.items() if k in OPENAI_WIRE_PARAMS or provider.accepts(k, model)}
        wire = tuple(message.wire() for message in body.messages)
        request = ProviderRequest(model=model, messages=(), params=params, wire_messages=wire)
    else:
        if body.uses_tools:
            raise GatewayError(
                f"{provider.label} cannot take tools or function calls through this front door; "
                "use an OpenAI-compatible provider for them",
                param="tools",
                code="tools_unsupported",
            )
        declared = set(CompletionRequest.model_fields) & set(COMMON_PARAMS | {"seed", "reasoning_effort"})
        params = {k: v for k, v in options.items() if k in declared and provider.accepts(k, model)}
        request = ProviderRequest(
            model=model,
            messages=_turns(body.messages),
            system_prompt=_system_prompt(body.messages),
            params=params,
        )
    provider.check_params(params, model)
    return request, sorted(set(options) - set(params))


def _system_prompt(messages: list[WireMessage]) -> str | None:
    texts = [m.text() for m in messages if m.role in ("system", "developer") and m.text()]
    return "\n\n".join(texts) or None


def _turns(messages: list[WireMessage]) -> tuple[Turn, ...]:
    return tuple(
        Turn(m.role, m.text(), images=tuple(m.image_urls())) for m in messages if m.role in STORED_ROLES
    )


def _media_messages(body: CompletionRequest) -> list[ChatMessageIn]:
    return [
        ChatMessageIn(role="user", content=m.text(), images=m.image_urls() or None)
        for m in body.messages
        if m.role == "user"
    ]


async def _store_and_launch(
    manager: GenerationManager,
    body: CompletionRequest,
    chain: FallbackChain,
    user_id: int,
    session_id: int | None,
    store: bool,
) -> Generation:
    first = chain.attempts[0]
    # No row has a negative id: every write of an unstored call's reply touches nothing.
    ids = (0, -1 - secrets.randbelow(2**31 - 2))
    if store:
        ids = await manager.db.run_core(
            _store_call, body, first.provider.id, first.request.model, user_id, session_id
        )
    request = ProviderRequest(model=first.request.model, messages=())
    return await manager.launch(*ids, chain, request)


def _store_call(
    db: Connection, body: CompletionRequest, provider: str, model: str, user_id: int, session_id: int | None
) -> tuple[int, int]:
    """One unit of work: the session found or made, the new messages and the assistant row inserted."""
    conversation = [m for m in body.messages if m.role in STORED_ROLES]
    if session_id is None:
        first_user = next((m.text() for m in conversation if m.role == "user" and m.text()), "")
        title = " ".join(first_user.split())
        session_id = database.create_session(
            db,
            title=(title[:47] + "...") if len(title) > 50 else (title or "New Chat"),
            provider=provider,
            model=model,
            system_prompt=_system_prompt(body.messages),
            user_id=user_id,
        )
        new, touch, parent = conversation, False, None
    else:
        # Another user's session is not found; the call's messages go below the branch it shows.
        parent = store.session_head(db, session_id, user_id).current_leaf_id
        last_reply = max((i for i, m in enumerate(conversation) if m.role == "assistant"), default=-1)
        new, touch = conversation[last_reply + 1 :], True
    rows = [message_row(m.role, m.text(), m.image_urls() or None) for m in new]
    rows.append(message_row("assistant", "", provider=provider, model=model, status="streaming"))
    *_, reply_id = store.add_branch(db, session_id, parent, rows, touch=touch)
    return session_id, reply_id
