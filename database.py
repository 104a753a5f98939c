"""Tables, the engine, and the persistence functions routers and generations call.

SQLAlchemy runs synchronously. `db.run(work, ...)` runs `work(session, ...)` on a database thread
as one unit of work, committed when it returns: one thread hop per unit, where the asyncio driver
made several per statement. A chat turn's own units use `db.run_core`, which hands `work` a
Connection: prebuilt Core statements without an ORM Session cost half as much again.

On a SQLite file, `run_core` runs on the event loop itself whenever nothing is queued on the
database thread. Its statements take tens of microseconds there (no sync on commit: WAL with
synchronous=NORMAL), less than the hop to a thread and back costs in CPU and latency. The loop never
waits for SQLite meanwhile: units already queued on the thread keep their turn (the unit then queues
behind them), and the WAL is checkpointed on a thread of its own once it has grown by 4 MB, since a
checkpoint copies and syncs pages for tens of milliseconds.
"""

import asyncio
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    bindparam,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import Connection, Dialect, Engine, Row, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

import migrations
from models import ApiError
from search import schema as search_schema

P = ParamSpec("P")
T = TypeVar("T")
logger = logging.getLogger(__name__)

# Seconds from a commit on a SQLite file to the look at its WAL that may start a checkpoint.
CHECKPOINT_DELAY = 1.0
# The WAL size that starts one: about the 1,000 pages at which SQLite itself checkpoints.
CHECKPOINT_BYTES = 4 * 1024 * 1024

# What the Core statement helpers below run on: a Session's unit of work, or a bare Connection's.
SqlRunner = Session | Connection


class NotFoundError(ApiError, LookupError):
    """A session or message id that does not exist; the message names it."""

    status_code = 404


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


# The user every row made without accounts belongs to (AUTH_MODE=off); migration 0005 makes it.
LOCAL_USER_ID = 1


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for the local user and for accounts made by SSO that gave no email.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatSession(Base):
    __tablename__ = "chat_sessions"
    # An id is never given again once its row is deleted (migration 0002). A chat id names a chat
    # of one user (migration 0005): two users may each have a chat "work".
    __table_args__ = (
        Index("ix_chat_sessions_user_chat_id", "user_id", "chat_id", unique=True),
        # Where an imported session came from, once per user (migration 0009).
        Index("ix_chat_sessions_user_origin", "user_id", "origin", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    system_prompt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Its id in the simple chat API (routers/simple_chat.py); sessions made elsewhere have none.
    chat_id: Mapped[str | None] = mapped_column(String(100))
    # Named for migration 0005, which adds it to a table SQLite can only rebuild.
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", name="fk_chat_sessions_user_id"), default=LOCAL_USER_ID
    )
    # The last message of the branch the session shows (conversation/): its messages are the path
    # from the root to it. No foreign key: the tables would reference each other.
    current_leaf_id: Mapped[int | None] = mapped_column(Integer)
    # Where an imported session came from (archive/): a file imported again adds no second copy.
    origin: Mapped[str | None] = mapped_column(String(200))

    messages: Mapped[list["ChatMessage"]] = relationship(
        back_populates="session",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ChatMessage.id",
    )


# Named: SQLite's batch migrations (0007) add no unnamed constraint. Declared in __table_args__
# so that create_all writes it first, where the batch rebuild of 0007 puts it.
PARENT_FOREIGN_KEY = "fk_chat_messages_parent_id"


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        ForeignKeyConstraint(["parent_id"], ["chat_messages.id"], name=PARENT_FOREIGN_KEY),
        {"sqlite_autoincrement": True},
    )

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
    # PDFs. Last: revision 0004_message_documents adds it where both dialects append a column.
    documents: Mapped[list[str] | None] = mapped_column(JSON)
    # The function calls the reply made (the OpenAI-compatible front door), whole (migration 0006).
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The message it answers or follows; None for a root. Siblings are the versions of one turn.
    parent_id: Mapped[int | None] = mapped_column(Integer, index=True)

    session: Mapped[ChatSession] = relationship(back_populates="messages")


class LoginSession(Base):
    """A sign-in: its access and refresh tokens name it, and logging out revokes it."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """A personal API key (`lk-...`): only its SHA-256 is kept."""

    __tablename__ = "api_keys"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tail: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SsoIdentity(Base):
    """An account's identity at an OpenID Connect issuer (its `iss` and `sub`)."""

    __tablename__ = "sso_identities"
    __table_args__ = (Index("ix_sso_identities_issuer_subject", "issuer", "subject", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))


class VendorKey(Base):
    """A user's own API key for a provider, Fernet-encrypted (auth/vendor_keys.py)."""

    __tablename__ = "user_vendor_keys"
    __table_args__ = (
        Index("ix_user_vendor_keys_user_provider", "user_id", "provider", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    provider: Mapped[str] = mapped_column(String(64))
    encrypted_key: Mapped[str] = mapped_column(Text)
    tail: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UploadOwner(Base):
    """Who an uploaded or generated file under uploads/ belongs to, by its stored name."""

    __tablename__ = "upload_owners"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)


# `create_all` makes the search indexes too, as migration 0008 does.
event.listen(Base.metadata, "after_create", lambda _target, connection, **_: search_schema.create(connection))

SESSIONS = cast(Table, ChatSession.__table__)
MESSAGES = cast(Table, ChatMessage.__table__)


class Database:
    """The engine and the threads that use it; every unit of work goes through `run` or `run_core`."""

    def __init__(self, database_url: str) -> None:
        is_sqlite = database_url.startswith("sqlite")
        # SQLite takes one writer at a time, and a writer that finds the lock taken sleeps in
        # SQLite's busy handler (1, 2, 5, ... 100 ms steps): one database thread queues the units
        # of work instead, first come first served, without sleeping.
        workers = 1 if is_sqlite else 8
        path = sqlite_file(database_url) if is_sqlite else None
        self.inline = path is not None
        self._wal_path = f"{path}-wal"
        # Inline, the loop and the checkpoint thread keep a connection each besides the workers'.
        self.engine = create_engine(database_url, pool_size=workers + 2 if self.inline else workers)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="database")
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="database-checkpoint")
        # Each thread keeps its connection: no pool checkout and reset per unit of work.
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._opened_lock = threading.Lock()
        # The unit submitted last to the database thread; until it is done, run_core queues too.
        self._queued: Future[Any] | None = None
        self._checkpoint_due: asyncio.TimerHandle | None = None
        self._checkpointing: Future[None] | None = None
        self._wal_checked = 0  # the WAL file's size when the last checkpoint started
        # Told the seconds each unit of work took (observability/metrics.py), when set.
        self.observe: Callable[[float], None] | None = None

    async def run(self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(session, ...)` on a database thread; commit if it returns, roll back if it raises.

        A caller cancelled meanwhile stops waiting, but the unit of work still runs, and completes
        or rolls back as a whole: no half-written turn is left behind.
        """
        return await self._on_thread(functools.partial(self._unit, work, *args, **kwargs))

    async def run_core(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Like `run`, for work done in Core statements alone: `work(connection, ...)`, no Session.

        On a SQLite file with nothing queued on the database thread, it runs at once, on the loop.
        """
        if self.inline and (self._queued is None or self._queued.done()):
            self._checkpoint_soon()
            return self._core_unit(work, *args, **kwargs)
        return await self._on_thread(functools.partial(self._core_unit, work, *args, **kwargs))

    async def _on_thread(self, call: Callable[[], T]) -> T:
        queued = self._queued = self._executor.submit(call)
        if self.inline:
            self._checkpoint_soon()
        return await asyncio.shield(asyncio.wrap_future(queued))

    def _unit(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        session = Session(bind=self._connection(), expire_on_commit=False)
        try:
            with session.begin():
                return work(session, *args, **kwargs)
        finally:
            session.close()
            self._timed(started)

    def _core_unit(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        connection = self._connection()
        try:
            with connection.begin():
                return work(connection, *args, **kwargs)
        finally:
            self._timed(started)

    def _timed(self, started: float) -> None:
        if self.observe is not None:
            self.observe(time.perf_counter() - started)

    def _connection(self) -> Connection:
        # A connection lost to a disconnect is invalidated by SQLAlchemy and, once its unit of work
        # has rolled back, reconnects by itself on the next use: the thread keeps the same object.
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self.engine.connect()
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    def _checkpoint_soon(self) -> None:
        if self._checkpoint_due is None:
            self._checkpoint_due = asyncio.get_running_loop().call_later(CHECKPOINT_DELAY, self._checkpoint)

    def _checkpoint(self) -> None:
        self._checkpoint_due = None
        if self._checkpointing is not None and not self._checkpointing.done():
            self._checkpoint_soon()  # the last checkpoint is still copying pages
            return
        # Not after every commit: the first write after a checkpoint restarts the WAL, and that
        # syncs its header on the loop (0.6-0.8 ms here). A restarted WAL is written over from its
        # start, so the file grows again only once that much has been written since.
        try:
            size = os.path.getsize(self._wal_path)
        except OSError:  # no WAL file where expected: checkpoint all the same
            size = self._wal_checked + CHECKPOINT_BYTES
        if size < CHECKPOINT_BYTES or size <= self._wal_checked:
            return
        self._wal_checked = size
        self._checkpointing = self._checkpointer.submit(self._checkpoint_wal)

    def _checkpoint_wal(self) -> None:
        try:
            # PASSIVE: copies what no reader still needs and never blocks a writer.
            self._core_unit(lambda db: db.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)"))
        except Exception:
            logger.exception("SQLite WAL checkpoint failed; it is tried again once the WAL grows")

    async def migrate(self) -> None:
        """Upgrade the schema to the newest revision (migrations/), on the database thread."""
        await self._on_thread(functools.partial(self._bare_unit, migrations.upgrade))

    def _bare_unit(self, work: Callable[[Connection], T]) -> T:
        # Without a transaction around it: `work` begins and ends its own.
        return work(self._connection())

    async def close(self) -> None:
        if self._checkpoint_due is not None:
            self._checkpoint_due.cancel()
        if self._checkpointing is not None:
            await asyncio.wrap_future(self._checkpointing)

        def close_all() -> None:
            # The last connection to close checkpoints the WAL into the database file.
            for connection in self._opened:
                connection.close()
            self.engine.dispose()

        # On the database thread: a SQLite :memory: database lives in that thread's connection.
        await asyncio.get_running_loop().run_in_executor(self._executor, close_all)
        self._executor.shutdown(wait=True)
        self._checkpointer.shutdown(wait=True)


def sqlite_file(database_url: str) -> str | None:
    """The absolute path of a SQLite URL's database file; None for an in-memory database."""
    url = make_url(database_url)
    if url.database in (None, "", ":memory:") or url.query.get("mode") == "memory":
        return None
    return os.path.abspath(url.database)


def create_engine(database_url: str, pool_size: int = 1) -> Engine:
    """Create the engine; on SQLite turn on WAL, foreign keys and a busy timeout."""
    is_sqlite = database_url.startswith("sqlite")
    engine = sa_create_engine(
        database_url,
        connect_args={"timeout": 30} if is_sqlite else {},
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=120,
    )
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        "busy_timeout=30000",
        "synchronous=NORMAL",
        # Checkpoints are the Database's checkpoint thread's (a commit would otherwise run one).
        "wal_autocheckpoint=0",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def ping(db: Session) -> bool:
    db.execute(text("SELECT 1"))
    return True


# The per-turn statements are Core and built once: a reply's writes skip the ORM's unit of work.
_INSERT_SESSION = insert(SESSIONS).returning(SESSIONS.c.id)
_INSERT_MESSAGES = insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True)
_TOUCH_SESSION = update(SESSIONS).where(SESSIONS.c.id == bindparam("session_id_"))
_UPDATE_MESSAGE = update(MESSAGES).where(MESSAGES.c.id == bindparam("message_id_"))
_UPDATE_STREAMING = _UPDATE_MESSAGE.where(MESSAGES.c.status == "streaming")
_SESSION_PROMPT = select(SESSIONS.c.system_prompt, SESSIONS.c.user_id).where(
    SESSIONS.c.id == bindparam("session_id_")
)
_SESSION_HISTORY = (
    select(MESSAGES).where(MESSAGES.c.session_id == bindparam("session_id_")).order_by(MESSAGES.c.id)
)


# --- sessions -------------------------------------------------------------------------------


def create_session(
    db: SqlRunner,
    *,
    title: str,
    provider: str,
    model: str,
    system_prompt: str | None = None,
    chat_id: str | None = None,
    user_id: int = LOCAL_USER_ID,
) -> int:
    """Insert a session and return its id (Core: a chat turn builds no ORM object for it)."""
    fields = {"title": title, "provider": provider, "model": model, "system_prompt": system_prompt}
    return int(db.execute(_INSERT_SESSION, {**fields, "chat_id": chat_id, "user_id": user_id}).scalar_one())


def session_prompt(db: SqlRunner, session_id: int) -> Row[Any, Any] | None:
    """A session's system prompt and owner (Core), or None when there is no such session."""
    return db.execute(_SESSION_PROMPT, {"session_id_": session_id}).first()


def get_session(db: Session, session_id: int, user_id: int | None = None) -> ChatSession | None:
    """The session `session_id`; with `user_id`, only if it is that user's."""
    row = db.get(ChatSession, session_id)
    return row if row is not None and user_id in (None, row.user_id) else None


def list_sessions(
    db: Session,
    *,
    skip: int = 0,
    limit: int | None = None,
    with_chat_id: bool = False,
    user_id: int = LOCAL_USER_ID,
) -> Sequence[tuple[ChatSession, int]]:
    """Sessions with their message counts, most recently active first; `with_chat_id`: those that have one."""
    counts = (
        select(ChatMessage.session_id, func.count().label("n")).group_by(ChatMessage.session_id).subquery()
    )
    query = (
        select(ChatSession, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.session_id == ChatSession.id)
        .where(ChatSession.user_id == user_id)
        .order_by(ChatSession.updated_at.desc(), ChatSession.id.desc())
        .offset(skip)
        .limit(limit)
    )
    if with_chat_id:
        query = query.where(ChatSession.chat_id.is_not(None))
    return [(row, int(n)) for row, n in db.execute(query).all()]


def session_by_chat_id(db: Session, chat_id: str, user_id: int = LOCAL_USER_ID) -> ChatSession | None:
    return db.scalar(
        select(ChatSession).where(ChatSession.chat_id == chat_id, ChatSession.user_id == user_id)
    )


def count_sessions(db: Session, user_id: int = LOCAL_USER_ID) -> int:
    query = select(func.count()).select_from(ChatSession).where(ChatSession.user_id == user_id)
    return int(db.scalar(query) or 0)


def count_messages(db: Session, session_id: int) -> int:
    query = select(func.count()).where(ChatMessage.session_id == session_id)
    return int(db.scalar(query) or 0)


def rename_session(db: Session, row: ChatSession, title: str) -> ChatSession:
    row.title = title
    row.updated_at = utcnow()
    db.flush()
    return row


def delete_session(db: Session, session_id: int) -> bool:
    result = db.execute(delete(ChatSession).where(ChatSession.id == session_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def session_ids(db: Session, user_id: int) -> list[int]:
    return list(db.scalars(select(ChatSession.id).where(ChatSession.user_id == user_id)))


def delete_all_sessions(db: Session, user_id: int = LOCAL_USER_ID) -> None:
    """Delete a user's sessions and their messages (ON DELETE CASCADE)."""
    owned = select(ChatSession.id).where(ChatSession.user_id == user_id)
    db.execute(delete(ChatMessage).where(ChatMessage.session_id.in_(owned)))
    db.execute(delete(ChatSession).where(ChatSession.user_id == user_id))


# --- messages -------------------------------------------------------------------------------


def session_history(db: SqlRunner, session_id: int) -> Sequence[Row[Any]]:
    """A session's messages as Core rows (the columns of ChatMessage), oldest first."""
    return db.execute(_SESSION_HISTORY, {"session_id_": session_id}).all()


def add_messages(
    db: SqlRunner, session_id: int, rows: list[dict[str, Any]], *, touch: bool = True
) -> list[int]:
    """Append messages in one statement and return their ids; `touch` moves the session's `updated_at`.

    Every row must carry the same columns (one multi-row INSERT).
    """
    ids = db.execute(_INSERT_MESSAGES, [{"session_id": session_id, **row} for row in rows]).scalars().all()
    if touch:
        db.execute(_TOUCH_SESSION, {"session_id_": session_id, "updated_at": utcnow()})
    return list(ids)


def get_message(db: Session, message_id: int) -> ChatMessage | None:
    return db.get(ChatMessage, message_id)


def owned_message(db: Session, message_id: int, user_id: int) -> ChatMessage | None:
    """The message `message_id` if its session is `user_id`'s."""
    query = (
        select(ChatMessage)
        .join(ChatSession, ChatSession.id == ChatMessage.session_id)
        .where(ChatMessage.id == message_id, ChatSession.user_id == user_id)
    )
    return db.scalar(query)


def update_message(db: SqlRunner, /, message_id: int, **fields: Any) -> None:
    db.execute(_UPDATE_MESSAGE, {"message_id_": message_id, **fields})


def update_messages(db: SqlRunner, rows: dict[int, dict[str, Any]]) -> None:
    """Flush replies still streaming (message id -> columns): one executemany per set of columns.

    Rows that already ended are left alone, so a flush that reaches the database after the
    reply's final store cannot put back an older snapshot.
    """
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for message_id, fields in rows.items():
        groups.setdefault(frozenset(fields), []).append({"message_id_": message_id, **fields})
    for group in groups.values():
        db.execute(_UPDATE_STREAMING, group)


def streaming_message_ids(db: Session, *, created_before: datetime | None = None) -> list[int]:
    query = select(ChatMessage.id).where(ChatMessage.status == "streaming")
    if created_before is not None:
        query = query.where(ChatMessage.created_at < created_before)
    return list(db.scalars(query).all())


def mark_interrupted(db: Session, message_ids: list[int]) -> None:
    """Mark replies whose process died as `interrupted`, keeping the text flushed before."""
    if message_ids:
        db.execute(
            update(ChatMessage)
            .where(ChatMessage.id.in_(message_ids), ChatMessage.status == "streaming")
            .values(status="interrupted", finish_reason="interrupted")
        )
