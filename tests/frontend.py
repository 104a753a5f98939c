"""The product's web frontend, as far as a chat turn goes: how it streams, stops and re-reads.

Its rules, from its source (frontend/src/api/apiClient.ts `chatStream`, hooks/useChatMessages.ts):
POST /chat with only a Content-Type header; split the body on blank lines (`\\n\\n` or `\\r\\n\\r\\n`);
an event counts only when, trimmed, it starts with `data:` and the rest parses as JSON; reading ends
at an `error` or `done` key; a non-200 answer is a generic failure with no session learned. Stop
aborts the request. Whatever happened, it then re-reads `GET /sessions/{id}` if it has a session id.
"""

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

EVENT_END = re.compile(r"\r?\n\r?\n")


@dataclass
class FrontendTurn:
    status: int
    session_id: int | None = None
    chunks: list[str] = field(default_factory=list)
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def _events(buffer: str) -> tuple[list[dict[str, Any]], str]:
    """The complete events at the start of `buffer` that the frontend keeps, and what is left."""
    found = []
    while (end := EVENT_END.search(buffer)) is not None:
        raw, buffer = buffer[: end.start()].strip(), buffer[end.end() :]
        if raw.startswith("data:") and (data := raw[5:].strip()) and data != "[DONE]":
            try:
                found.append(json.loads(data))
            except ValueError:
                continue  # the frontend logs it and reads on
    return found, buffer


async def stream_turn(
    http: httpx.AsyncClient, body: dict[str, Any], *, stop_after: int | None = None, within: float = 10
) -> FrontendTurn:
    """Stream a chat turn as the frontend does; press Stop after `stop_after` text chunks."""
    async with asyncio.timeout(within), http.stream("POST", "/api/v1/chat", json=body) as response:
        turn = FrontendTurn(response.status_code)
        if response.status_code != 200:
            return turn
        buffer = ""
        async for piece in response.aiter_text():
            events, buffer = _events(buffer + piece)
            for event in events:
                turn.events.append(event)
                if event.get("session_id") and turn.session_id is None:
                    turn.session_id = event["session_id"]
                if event.get("content"):
                    turn.chunks.append(event["content"])
                if event.get("error") or event.get("done"):
                    turn.error = event.get("error")
                    return turn
                if stop_after is not None and len(turn.chunks) == stop_after:
                    return turn  # leaving the block aborts the request, as Stop does
    return turn


async def reread(http: httpx.AsyncClient, session_id: int) -> dict[str, Any]:
    """The frontend's re-read after a turn: the session's last message, as stored."""
    detail = (await http.get(f"/api/v1/sessions/{session_id}")).json()
    message: dict[str, Any] = detail["messages"][-1]
    return message
