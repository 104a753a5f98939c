"""How a launched call is answered: a stream of chunks, or one completion once the reply has ended.

Either waits for the reply's first event before answering, so that a call that fails before any
output (every fallback tried) is an HTTP error in OpenAI's shape with the vendor's status, and so
that the headers can say which vendor answered. After that a failure is an in-stream error.
"""

from collections.abc import Callable

from fastapi import Response
from fastapi.responses import JSONResponse

from gateway.calls import Call
from gateway.chunks import ChunkWriter, completion
from generation.reply import opening
from generation.running import Generation
from generation.watchdogs import STOPPED
from routers.event_stream import EventStreamResponse

# The log's first events (session and message ids) are not part of this wire.
OPENING = len(opening(0, 0))


async def first_event(generation: Generation) -> None:
    """Wait until the reply has an event past the opening ones (output, or its end)."""
    follower = generation.log.follow(OPENING)
    try:
        async for batch in follower:
            if batch:
                return
    finally:
        await follower.aclose()


def headers(call: Call) -> dict[str, str]:
    generation = call.generation
    found: dict[str, str] = {}
    if call.stored:
        # A dropped client finds the stored reply here, and resumes it by GET /chat/{message_id}/stream.
        found["X-Session-Id"] = str(generation.session_id)
        found["X-Message-Id"] = str(generation.message_id)
    if generation.reply.routed is not None:
        found["X-Answered-By"] = "/".join(generation.reply.routed)
    if call.ignored:
        found["X-Ignored-Parameters"] = ", ".join(call.ignored)
    return found


def answered_model(generation: Generation, asked: str) -> str:
    return "/".join(generation.reply.routed) if generation.reply.routed else asked


async def answer(
    call: Call, model: str, *, stream: bool, include_usage: bool, leaving_stops: bool
) -> Response:
    generation = call.generation
    await first_event(generation)
    if generation.reply.ended and generation.error is not None and not _has_output(generation):
        raise generation.error
    if not stream:
        await generation.done.wait()
        if generation.error is not None:
            raise generation.error
        body = completion(generation.reply, answered_model(generation, model))
        return JSONResponse(body, headers=headers(call))
    writer = ChunkWriter(generation.reply, answered_model(generation, model), include_usage=include_usage)
    return EventStreamResponse(
        generation.log.follow(OPENING),
        with_ids=False,
        render=writer.frame,
        on_close=_on_leaving(generation) if leaving_stops else None,
        headers=headers(call),
    )


def _has_output(generation: Generation) -> bool:
    reply = generation.reply
    return bool(reply.text or reply.reasoning or reply.tool_calls or reply.media)


def _on_leaving(generation: Generation) -> Callable[[int], object]:
    """DISCONNECT_POLICY=stop: a client's leaving stops the reply at what it was sent."""
    generation.leaving_stops += 1

    def left(sent: int) -> None:
        generation.leaving_stops -= 1
        generation.abort(STOPPED, cut_at=sent)

    return left
