"""What each frame a client sends does: start a turn, resume, abort or continue a reply.

The turns are those of POST /chat (generation.turn), with a `parent_message_id` placing the new
message in the session's tree; resuming follows the same log as GET /chat/{id}/stream. Any refusal
is an `error` frame, and the socket stays open.
"""

from typing import Any

from pydantic import ValidationError

import database
from auth.current_user import User
from auth.service import AuthService
from conversation import store
from generation.reply import replay_log
from generation.turn import Attach, Caller, start_continue, start_turn
from models import ApiError, ChatRequest, MessageOut
from provider_registry import ProviderRegistry
from routers.chat import disconnect_action, stop
from socket_stream import frames
from socket_stream.connection import SocketStream


class FrameHandler:
    """The frames of one socket's client: `user`, None until an `auth` frame says who they are."""

    def __init__(
        self, stream: SocketStream, registry: ProviderRegistry, user: User | None, auth: AuthService
    ) -> None:
        self.stream = stream
        self.manager = stream.manager
        self.registry = registry
        self.user = user
        self.auth = auth

    @property
    def caller(self) -> Caller:
        assert self.user is not None, "no frame is handled before its client is known"
        return Caller(self.user.id, self.auth)

    async def handle(self, frame: frames.Frame) -> None:
        """Act on one frame; an ApiError or invalid settings become an error frame."""
        message_id = getattr(frame, "message_id", None)
        try:
            match frame:
                case frames.StreamMessageFrame():
                    await self.stream_message(frame)
                case frames.ResumeFrame():
                    await self.resume(frame.message_id, frame.last_event)
                case frames.AbortFrame():
                    await self.abort(frame.message_id)
                case frames.ContinueFrame():
                    await self.continue_reply(frame.message_id)
                case frames.AuthFrame():
                    await self.stream.send({"type": "authenticated"})
        except ApiError as exc:
            await self.stream.send(
                {"type": "error", "error": str(exc), "status": exc.status_code, **exc.extra()}, message_id
            )
        except ValidationError as exc:
            problem = frames.BadFrame(
                f"invalid {frame.type} frame: {exc.errors(include_url=False)[0]['msg']}",
                [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)],
            )
            await self.stream.send(problem.frame(), message_id)

    async def stream_message(self, frame: frames.StreamMessageFrame) -> None:
        session_id = self.stream.session_id
        head = await self.manager.db.run_core(store.session_head, session_id, self.caller.user_id)
        turn: ChatRequest = frame.chat_request(session_id, head.provider, head.model, [frame.message()])
        turn = turn.model_copy(update={"stream": True})
        attach = Attach(frame.parent_message_id) if frame.parent_message_id is not None else None
        started = await start_turn(self.manager, self.registry, turn, caller=self.caller, attach=attach)
        if started.ignored:
            await self.stream.send({"type": "ignored_parameters", "parameters": started.ignored})
        self.follow(started.generation.message_id, 0)

    def follow(self, message_id: int, after: int) -> bool:
        """Follow a reply this worker runs (or ran moments ago); False if it has none."""
        generation = self.manager.get(message_id)
        if generation is None:
            return False
        # A socket's client resumes by nature: only DISCONNECT_POLICY=stop makes its leaving a Stop.
        on_close = disconnect_action(self.manager, generation, resumable=True)
        self.stream.follow(message_id, generation.log.follow(after), on_close)
        return True

    async def resume(self, message_id: int, after: int) -> None:
        row = await self.manager.db.run(database.get_message, message_id)
        if row is None or row.role != "assistant" or row.session_id != self.stream.session_id:
            raise database.NotFoundError(
                f"Assistant message {message_id} not found in session {self.stream.session_id}"
            )
        if self.follow(message_id, after):
            return
        elsewhere = await self.manager.follow_elsewhere(message_id, after)
        if elsewhere is not None:
            self.stream.follow(message_id, elsewhere, None)
            return
        self.stream.follow(message_id, replay_log(row).follow(after), None)

    async def abort(self, message_id: int) -> MessageOut:
        # As POST /stream/{id}/abort: here, or on the worker that runs it (Redis).
        await self._require_own(message_id)
        assert self.user is not None
        return await stop(message_id, self.manager, self.manager.db, self.user)

    async def continue_reply(self, message_id: int) -> None:
        await self._require_own(message_id)
        started = await start_continue(self.manager, self.registry, message_id, caller=self.caller)
        self.follow(started.generation.message_id, 0)

    async def _require_own(self, message_id: int) -> Any:
        row = await self.manager.db.run(database.get_message, message_id)
        if row is None or row.session_id != self.stream.session_id:
            raise database.NotFoundError(
                f"Message {message_id} not found in session {self.stream.session_id}"
            )
        return row
