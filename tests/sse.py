"""Reading the start of a chat's SSE stream, for tests that act while a reply is still streaming."""

import asyncio
import json
from typing import Any

import httpx
from httpx_sse import aconnect_sse

CHAT = "/api/v1/chat"


async def start_and_read(
    http: httpx.AsyncClient | str, body: dict[str, Any], count: int, *, resumable: bool = True
) -> list[dict[str, Any]]:
    """POST /chat and read the first `count` events of its stream, then disconnect (bounded: 10 s).

    `http` is a client, or the base URL of a service to open one for. A `resumable` client sends
    `X-Resumable: 1`, so its reply runs on after it leaves; any other client's leaving stops it.
    """
    if isinstance(http, str):
        async with httpx.AsyncClient(base_url=http, timeout=10) as client:
            return await start_and_read(client, body, count, resumable=resumable)
    events: list[dict[str, Any]] = []
    headers = {"X-Resumable": "1"} if resumable else {}
    async with asyncio.timeout(10), aconnect_sse(http, "POST", CHAT, json=body, headers=headers) as source:
        async for event in source.aiter_sse():
            events.append(json.loads(event.data))
            if len(events) == count:
                break
    return events
