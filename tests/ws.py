"""A WebSocket client of the service for tests: frames in and out as dicts, every wait bounded."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect


def socket_url(http: httpx.AsyncClient, path: str) -> str:
    return str(http.base_url).replace("http://", "ws://", 1).rstrip("/") + path


class Socket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.connection.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def receive(self, within: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(within):
            frame: dict[str, Any] = json.loads(await self.connection.recv())
            return frame

    async def until(
        self, kind: str, message_id: int | None = None, within: float = 10
    ) -> list[dict[str, Any]]:
        """Frames received up to and including the first of type `kind` (of reply `message_id`)."""
        frames: list[dict[str, Any]] = []
        async with asyncio.timeout(within):
            while True:
                frame = await self.receive(within)
                frames.append(frame)
                if frame["type"] == kind and message_id in (None, frame.get("message_id")):
                    return frames


@asynccontextmanager
async def opened(http: httpx.AsyncClient, session_id: int, **options: Any) -> AsyncIterator[Socket]:
    async with connect(socket_url(http, f"/stream/{session_id}"), open_timeout=10, **options) as connection:
        yield Socket(connection)


def tokens(frames: list[dict[str, Any]], message_id: int | None = None) -> str:
    return "".join(
        f["token"] for f in frames if f["type"] == "token" and message_id in (None, f["message_id"])
    )


async def new_session(
    http: httpx.AsyncClient, provider: str = "deepseek", model: str = "deepseek-chat"
) -> int:
    response = await http.post("/api/v1/sessions", json={"title": "t", "provider": provider, "model": model})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])
