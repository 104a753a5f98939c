"""The Database's units of work on a SQLite file: the event loop never waits for SQLite."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

import database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[database.Database]:
    db = database.Database(f"sqlite:///{tmp_path / 'chat.db'}")
    await db.migrate()
    try:
        yield db
    finally:
        await db.close()


def new_session(db: Connection, title: str) -> int:
    return database.create_session(db, title=title, provider="openai", model="m")


async def longest_stall(work: asyncio.Future[object]) -> float:
    """The longest the event loop went without running a 10 ms ticker while `work` was pending."""
    longest, last = 0.0, time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    return longest


async def test_a_turn_write_queued_behind_a_slow_unit_waits_without_stalling_the_loop(
    db: database.Database,
) -> None:
    locked = threading.Event()

    def slow_write(session: Session) -> int:
        row = database.ChatSession(title="first", provider="openai", model="m")
        session.add(row)
        session.flush()
        locked.set()
        time.sleep(0.5)  # holds SQLite's write lock meanwhile
        return row.id

    slow = asyncio.ensure_future(db.run(slow_write))
    async with asyncio.timeout(5):
        while not locked.is_set():
            await asyncio.sleep(0.005)
    fast = asyncio.ensure_future(db.run_core(new_session, "second"))
    # A second writer that found the lock taken would sleep in SQLite's busy handler, on the loop.
    assert await longest_stall(asyncio.gather(slow, fast)) < 0.25
    assert (await slow, await fast) == (1, 2)


async def test_commits_reach_the_database_file_through_the_checkpoint_thread(
    db: database.Database, tmp_path: Path
) -> None:
    path = tmp_path / "chat.db"
    size_before = path.stat().st_size
    session_id = await db.run_core(new_session, "big")
    text = "x" * 100_000
    for _ in range(60):  # 6 MB in 60 commits: past SQLite's default 1,000-page autocheckpoint
        await db.run_core(database.add_messages, session_id, [{"role": "user", "content": text}])
    # The writers only appended to the WAL: a checkpoint syncs pages for tens of ms, on a thread.
    assert path.stat().st_size == size_before
    async with asyncio.timeout(database.CHECKPOINT_DELAY + 5):
        while path.stat().st_size < 6_000_000:
            await asyncio.sleep(0.05)
    stored = await db.run(lambda s: s.scalars(select(database.ChatMessage.content)).all())
    assert stored == [text] * 60
