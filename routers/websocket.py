"""Seed 003's streaming routes, mounted where seed 003 mounts them (at the root).

`WebSocket /stream/{session_id}` streams the turns of one session (socket_stream/); `POST
/stream/{message_id}/abort` stops a reply (here or, through Redis, on the worker that runs it) and
`POST /stream/{message_id}/continue` continues a cut reply, streamed on the session's open sockets.
"""

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Request, WebSocket, status
from pydantic import BaseModel

from auth.current_user import Auth, CurrentUser, User, user_from_token
from auth.service import AuthService
from conversation import store
from generation.turn import Caller, start_continue
from limits.dependency import ChatLimits
from models import MAX_ROW_ID, ApiError, MessageOut
from provider_registry import ProviderRegistry
from routers.chat import stop
from routers.deps import Db, Manager, MessageId, Registry
from routers.errors import (
    DRAINING,
    MESSAGE_NOT_FOUND,
    NOT_CONTINUABLE,
    NOT_GENERATING,
    UNUSABLE_PROVIDER,
    responses,
)
from socket_stream import frames
from socket_stream.connection import SocketGone, SocketRegistry, SocketStream
from socket_stream.handler import FrameHandler

router = APIRouter(prefix="/stream", tags=["websocket streaming"])

# Close codes of the 4000-4999 range applications define: an HTTP status plus 4000.
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404


async def authenticate(websocket: WebSocket, token: str | None) -> User:
    """Who the socket's client is: with AUTH_MODE=off the local user, token or not.

    The one place a token is checked: an ApiError (a 401) raised here closes the socket.
    """
    auth: AuthService = websocket.app.state.auth
    return await user_from_token(token, auth)


class ContinueOut(BaseModel):
    message_id: int
    session_id: int
    status: str


@router.websocket("/{session_id}")
async def stream_session(
    websocket: WebSocket, session_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], token: str | None = None
) -> None:
    """Stream the turns of one session: send `stream_message` frames, receive the replies' frames."""
    await websocket.accept()
    state = websocket.app.state
    settings, manager, registry = state.settings, state.manager, state.registry
    stream = SocketStream(websocket, manager, session_id, settings.ws_send_queue)
    async with stream:
        try:
            # Without accounts, or with ?token=, the client is known now; else its first frame says.
            user = await authenticate(websocket, token) if token is not None or state.auth.off else None
            if user is not None:
                await manager.db.run_core(store.session_head, session_id, user.id)
            await _serve(websocket, stream, registry, settings.ws_max_frame_bytes, user)
        except SocketGone:
            pass  # the client left while a frame was being sent to it: as a disconnect
        except ApiError as exc:
            # Before any reply is relayed (an unknown session, a refused token): said, then closed.
            code = CLOSE_NOT_FOUND if exc.status_code == 404 else CLOSE_UNAUTHORIZED
            await websocket.send_text(
                orjson.dumps({"type": "error", "error": str(exc), "status": exc.status_code}).decode()
            )
            await websocket.close(code)


async def _serve(
    websocket: WebSocket, stream: SocketStream, registry: ProviderRegistry, limit: int, user: User | None
) -> None:
    sockets: SocketRegistry = websocket.app.state.sockets
    auth: AuthService = websocket.app.state.auth
    handler = FrameHandler(stream, registry, user, auth)
    with sockets.opened(stream):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                frame = frames.parse(message.get("text"), limit)
            except frames.BadFrame as problem:
                await stream.send(problem.frame())
                continue
            if handler.user is None:
                # The token comes as ?token= or in a first `auth` frame; any other first frame is
                # a client without one. The session must be theirs (else it is not found).
                token = frame.token if isinstance(frame, frames.AuthFrame) else None
                handler.user = await authenticate(websocket, token)
                await stream.manager.db.run_core(store.session_head, stream.session_id, handler.user.id)
            await handler.handle(frame)


@router.post("/{message_id}/abort", responses=responses(MESSAGE_NOT_FOUND, NOT_GENERATING))
async def abort(message_id: MessageId, manager: Manager, db: Db, user: CurrentUser) -> MessageOut:
    """Stop a reply now, keeping its partial text (status `stopped`): as POST /api/v1/chat/{id}/stop."""
    return await stop(message_id, manager, db, user)


@router.post(
    "/{message_id}/continue",
    dependencies=[ChatLimits],
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(MESSAGE_NOT_FOUND, NOT_CONTINUABLE, UNUSABLE_PROVIDER, DRAINING),
)
async def continue_stream(
    request: Request,
    message_id: MessageId,
    manager: Manager,
    registry: Registry,
    user: CurrentUser,
    auth: Auth,
) -> ContinueOut:
    """Continue a cut reply; it streams on this worker's sockets of its session (or resume it there)."""
    started = await start_continue(manager, registry, message_id, caller=Caller(user.id, auth))
    generation = started.generation
    sockets: SocketRegistry = request.app.state.sockets
    for stream in sockets.of(generation.session_id):
        FrameHandler(stream, registry, user, auth).follow(generation.message_id, 0)
    return ContinueOut(message_id=generation.message_id, session_id=generation.session_id, status="streaming")
