"""Tables, the async engine, and the persistence functions routers and generations call.

Functions take the `AsyncSession` first and only `flush`; the caller's unit of work commits.
"""

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    delete,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class NotFoundError(LookupError):
    """A session or message id that does not exist; the message names it."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware datetimes: SQLite keeps no zone, so it is restored on load."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC).replace(tzinfo=None) if value else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value else None


class Base(DeclarativeBase):
    pass


class ChatSession(Base):
    __tablename__ = "chat_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    messages: Mapped[list["ChatMessage"]] = relationship(
        back_populates="session",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ChatMessage.id",
    )


class ChatMessage(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    images: Mapped[list[str] | None] = mapped_column(JSON)
    videos: Mapped[list[str] | None] = mapped_column(JSON)
    audios: Mapped[list[str] | None] = mapped_column(JSON)
    thought_process: Mapped[str | None] = mapped_column(Text)
    thought_signatures: Mapped[list[str] | None] = mapped_column(JSON)
    search_results: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    provider: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="complete", index=True)
    finish_reason: Mapped[str | None] = mapped_column(String(64))
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    session: Mapped[ChatSession] = relationship(back_populates="messages")


def create_engine(database_url: str) -> AsyncEngine:
    """Create the engine; on SQLite turn on WAL, foreign keys and a busy timeout."""
    is_sqlite = database_url.startswith("sqlite")
    # SQLite takes one writer at a time, and a writer that finds the lock taken sleeps in
    # SQLite's busy handler (1, 2, 5, ... 100 ms steps): one pooled connection queues writers
    # in the event loop instead, first come first served, without sleeping.
    pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 120} if is_sqlite else {}
    engine = create_async_engine(
        database_url,
        connect_args={"timeout": 30} if is_sqlite else {},
        **pool,
    )
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "busy_timeout=30000",
        "synchronous=NORMAL",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def init_db(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def ping(db: AsyncSession) -> bool:
    await db.execute(text("SELECT 1"))
    return True


async def db_session(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on error."""
    async with maker() as db:
        try:
            yield db
            await db.commit()
        except BaseException:
            await db.rollback()
            raise


# --- sessions -------------------------------------------------------------------------------


async def create_session(
    db: AsyncSession, *, title: str, provider: str, model: str, system_prompt: str | None = None
) -> ChatSession:
    row = ChatSession(title=title, provider=provider, model=model, system_prompt=system_prompt)
    db.add(row)
    await db.flush()
    return row


async def get_session(db: AsyncSession, session_id: int) -> ChatSession | None:
    return await db.get(ChatSession, session_id)


async def list_sessions(db: AsyncSession, *, skip: int, limit: int) -> Sequence[tuple[ChatSession, int]]:
    counts = (
        select(ChatMessage.session_id, func.count().label("n")).group_by(ChatMessage.session_id).subquery()
    )
    query = (
        select(ChatSession, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.session_id == ChatSession.id)
        .order_by(ChatSession.updated_at.desc(), ChatSession.id.desc())
        .offset(skip)
        .limit(limit)
    )
    return [(row, int(n)) for row, n in (await db.execute(query)).all()]


async def count_sessions(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(ChatSession)) or 0)


async def count_messages(db: AsyncSession, session_id: int) -> int:
    query = select(func.count()).where(ChatMessage.session_id == session_id)
    return int(await db.scalar(query) or 0)


async def rename_session(db: AsyncSession, row: ChatSession, title: str) -> ChatSession:
    row.title = title
    row.updated_at = utcnow()
    await db.flush()
    return row


async def delete_session(db: AsyncSession, session_id: int) -> bool:
    result = await db.execute(delete(ChatSession).where(ChatSession.id == session_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_all_sessions(db: AsyncSession) -> None:
    await db.execute(delete(ChatMessage))
    await db.execute(delete(ChatSession))


async def truncate_from(db: AsyncSession, session_id: int, message_id: int) -> bool:
    """Delete a message and every later one of its session; False when it is not in that session."""
    found = await db.scalar(
        select(ChatMessage.id).where(ChatMessage.id == message_id, ChatMessage.session_id == session_id)
    )
    if found is None:
        return False
    await db.execute(
        delete(ChatMessage).where(ChatMessage.session_id == session_id, ChatMessage.id >= message_id)
    )
    await db.execute(update(ChatSession).where(ChatSession.id == session_id).values(updated_at=utcnow()))
    return True


# --- messages -------------------------------------------------------------------------------


async def session_messages(db: AsyncSession, session_id: int) -> Sequence[ChatMessage]:
    query = select(ChatMessage).where(ChatMessage.session_id == session_id).order_by(ChatMessage.id)
    return (await db.scalars(query)).all()


async def add_message(db: AsyncSession, session: ChatSession, **fields: Any) -> ChatMessage:
    """Append a message and move the session's `updated_at`, so it sorts as recently active."""
    row = ChatMessage(session_id=session.id, **fields)
    db.add(row)
    session.updated_at = utcnow()
    await db.flush()
    return row


async def add_messages(
    db: AsyncSession, session: ChatSession, rows: list[dict[str, Any]], *, touch: bool = True
) -> list[ChatMessage]:
    """Append several messages with one flush; `touch` moves the session's `updated_at`."""
    messages = [ChatMessage(session_id=session.id, **fields) for fields in rows]
    db.add_all(messages)
    if touch:
        session.updated_at = utcnow()
    await db.flush()
    return messages


async def get_message(db: AsyncSession, message_id: int) -> ChatMessage | None:
    return await db.get(ChatMessage, message_id)


async def update_message(db: AsyncSession, message_id: int, **fields: Any) -> None:
    await db.execute(update(ChatMessage).where(ChatMessage.id == message_id).values(**fields))


async def update_messages(db: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Flush replies still streaming: one executemany per set of columns.

    Rows that already ended are left alone, so a flush that reaches the database after the
    reply's final store cannot put back an older snapshot.
    """
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    for group in groups.values():
        await db.execute(
            update(ChatMessage).where(ChatMessage.status == "streaming"),
            group,
            execution_options={"synchronize_session": None},
        )


async def streaming_message_ids(db: AsyncSession, *, created_before: datetime | None = None) -> list[int]:
    query = select(ChatMessage.id).where(ChatMessage.status == "streaming")
    if created_before is not None:
        query = query.where(ChatMessage.created_at < created_before)
    return list((await db.scalars(query)).all())


async def mark_interrupted(db: AsyncSession, message_ids: list[int]) -> None:
    """Mark replies whose process died as `interrupted`, keeping the text flushed before."""
    if message_ids:
        await db.execute(
            update(ChatMessage)
            .where(ChatMessage.id.in_(message_ids), ChatMessage.status == "streaming")
            .values(status="interrupted", finish_reason="interrupted")
        )
