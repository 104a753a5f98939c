"""A killed process loses no stored text; a terminated one finalizes its replies first."""

import asyncio
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from tests.families import Family, over_families
from tests.service_process import ServiceProcess
from tests.sse import start_and_read


def service(tmp_path: Path, family: Family, **env: str) -> ServiceProcess:
    return ServiceProcess(
        tmp_path / "service.log",
        DATABASE_URL=f"sqlite:///{tmp_path / 'chat.db'}",
        PROVIDER_MAX_RETRIES="0",
        UPLOAD_DIR=str(tmp_path / "uploads"),
        **family.env(),
        **env,
    )


def stored(db: Path, message_id: int) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM chat_messages WHERE id = ?", (message_id,)).fetchone()
    return dict(row)


@over_families
async def test_a_killed_process_leaves_the_flushed_text_marked_interrupted(
    tmp_path: Path, family: Family
) -> None:
    family.paced(400, 0.02)
    first = service(tmp_path, family, STREAM_FLUSH_INTERVAL="0.2").start()
    try:
        events = await start_and_read(first.url, family.ask(), 8)
        await asyncio.sleep(0.6)  # past a few flush intervals
        first.signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.stop()
    message_id = events[1]["message_id"]
    before = stored(tmp_path / "chat.db", message_id)
    assert before["status"] == "streaming"
    assert before["content"].startswith("w0 w1 w2 w3 w4 w5 ")

    with service(tmp_path, family) as second:
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
            detail = (await client.get(f"/api/v1/sessions/{events[0]['session_id']}")).json()
    reply = detail["messages"][-1]
    assert reply["id"] == message_id
    assert reply["status"] == "interrupted"
    assert reply["content"] == before["content"]


@over_families
async def test_sigterm_refuses_new_chats_and_stores_running_replies_as_interrupted(
    tmp_path: Path, family: Family
) -> None:
    family.paced(1000, 0.02)
    proc = service(tmp_path, family, SHUTDOWN_GRACE_SECONDS="1.5").start()
    try:
        async with httpx.AsyncClient(base_url=proc.url, timeout=10) as client, asyncio.timeout(20):
            async with aconnect_sse(client, "POST", "/api/v1/chat", json=family.ask()) as source:
                events: list[dict[str, Any]] = []
                async for event in source.aiter_sse():
                    events.append(json.loads(event.data))
                    if len(events) == 5:
                        proc.signal(signal.SIGTERM)
                        await asyncio.sleep(0.2)
                        refused = await client.post("/api/v1/chat", json=family.ask())
                        assert refused.status_code == 503
                        assert "shutting down" in refused.json()["detail"]
            assert "shut down" in events[-2]["error"]
            assert events[-1] == {"done": True}
        assert proc.wait(timeout=15) is not None
    finally:
        proc.stop()
    row = stored(tmp_path / "chat.db", events[1]["message_id"])
    assert (row["status"], row["finish_reason"]) == ("interrupted", "shutdown")
    assert row["content"] == "".join(e.get("content", "") for e in events)
