"""Schema migrations, on SQLite and PostgreSQL.

A database upgraded to head is the one `create_all` makes; one the service wrote before migrations
is stamped at the baseline and served with every row as it was; schemas the service does not know
stop start-up untouched; workers starting together take turns; revisions run in one transaction.
"""

import contextlib
import itertools
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, text
from sqlalchemy.engine import Connection

import database
import migrations
from app_factory import create_app
from tests.conftest import ServeApp, SettingsFactory
from tests.postgres_server import create_database
from tests.service_process import ROOT, ServiceProcess, clean_env

pytestmark = pytest.mark.timeout(60)

HEAD = ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()
_names = itertools.count(1)

# What `Base.metadata.create_all` wrote into a SQLite file before migrations (sqlite_master.sql).
CREATE_ALL_DDL = {
    "chat_sessions": (
        "CREATE TABLE chat_sessions (\n\tid INTEGER NOT NULL, \n\ttitle VARCHAR(200) NOT NULL, "
        "\n\tprovider VARCHAR(64) NOT NULL, \n\tmodel VARCHAR(200) NOT NULL, \n\tsystem_prompt TEXT, "
        "\n\tcreated_at DATETIME NOT NULL, \n\tupdated_at DATETIME NOT NULL, \n\tPRIMARY KEY (id)\n)"
    ),
    "ix_chat_sessions_updated_at": "CREATE INDEX ix_chat_sessions_updated_at ON chat_sessions (updated_at)",
    "chat_messages": (
        "CREATE TABLE chat_messages (\n\tid INTEGER NOT NULL, \n\tsession_id INTEGER NOT NULL, "
        "\n\trole VARCHAR(16) NOT NULL, \n\tcontent TEXT NOT NULL, \n\timages JSON, \n\tvideos JSON, "
        "\n\taudios JSON, \n\tthought_process TEXT, \n\tthought_signatures JSON, \n\tsearch_results JSON, "
        "\n\tprovider VARCHAR(64), \n\tmodel VARCHAR(200), \n\tstatus VARCHAR(16) NOT NULL, "
        "\n\tfinish_reason VARCHAR(64), \n\tusage JSON, \n\terror TEXT, \n\tcreated_at DATETIME NOT NULL, "
        "\n\tPRIMARY KEY (id), \n\tFOREIGN KEY(session_id) REFERENCES chat_sessions (id) ON DELETE CASCADE\n)"
    ),
    "ix_chat_messages_session_id": "CREATE INDEX ix_chat_messages_session_id ON chat_messages (session_id)",
    "ix_chat_messages_status": "CREATE INDEX ix_chat_messages_status ON chat_messages (status)",
}


def at(minute: int) -> datetime:
    """A stored timestamp: naive UTC, as the service writes it, with microseconds."""
    return datetime(2026, 11, 30, 9, minute, 7, 123456)


SESSIONS = [
    {
        "id": 1,
        "title": "Voyage à Kyōto 🗾",
        "provider": "deepseek",
        "model": "deepseek-reasoner",
        "system_prompt": "Réponds en français, s'il te plaît.\nSois bref.",
        "created_at": at(0),
        "updated_at": at(9),
    },
    {
        "id": 2,
        "title": "你好，世界",
        "provider": "gemini",
        "model": "gemini-2.5-flash",
        "system_prompt": None,
        "created_at": at(10),
        "updated_at": at(12),
    },
]
NO_EXTRAS: dict[str, Any] = {
    "images": None,
    "videos": None,
    "audios": None,
    "thought_process": None,
    "thought_signatures": None,
    "search_results": None,
    "provider": None,
    "model": None,
    "finish_reason": None,
    "usage": None,
    "error": None,
}
USAGE = {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46, "reasoning_tokens": 5}


def message(
    number: int, session_id: int, role: str, content: str, status: str, **fields: Any
) -> dict[str, Any]:
    row = {"id": number, "session_id": session_id, "role": role, "content": content, "status": status}
    return {**row, **NO_EXTRAS, "created_at": at(number), **fields}


def reply(number: int, session_id: int, content: str, status: str, **fields: Any) -> dict[str, Any]:
    """An assistant reply, with the provider and model that wrote it."""
    return message(
        number, session_id, "assistant", content, status, provider="deepseek", model="m1", **fields
    )


MESSAGES = [
    message(
        1,
        1,
        "user",
        "Que voir ? 🏯",
        "complete",
        images=["/uploads/temple.png"],
        videos=["/uploads/walk.mp4"],
        audios=["/uploads/question.mp3"],
    ),
    reply(
        2,
        1,
        "Le Kinkaku-ji, « le pavillon d'or ».",
        "complete",
        thought_process="L'utilisateur veut des lieux…",
        thought_signatures=["c2lnbmF0dXJl", "b3RoZXI="],
        search_results=[{"title": "金閣寺", "url": "https://example.org/kinkaku", "content": "Pavillon"}],
        finish_reason="stop",
        usage=USAGE,
    ),
    message(3, 1, "user", "Et ensuite ?", "complete"),
    reply(4, 1, "Le Fushimi In", "stopped", finish_reason="stopped by user"),
    reply(5, 1, "Partial, then", "error", finish_reason="error", error="deepseek: rate limited (429)"),
    reply(6, 1, "Gone mid-sen", "interrupted", finish_reason="interrupted"),
    reply(7, 1, "Still stream", "streaming", thought_process="hmm"),
    message(8, 2, "user", "مرحبا — שלום — Привет", "complete"),
    reply(9, 2, "", "complete", images=["/uploads/generated.png"], finish_reason="stop", usage={}),
]


# --- databases ----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Makes empty databases of the backend under test; each call gives one's URL (driver named)."""
    if request.param == "sqlite":
        return lambda: f"sqlite:///{tmp_path / f'chat{next(_names)}.db'}"
    server = request.getfixturevalue("postgres")
    return lambda: create_database(server, f"migrations_{next(_names)}").replace(
        "postgresql://", "postgresql+psycopg://", 1
    )


@contextlib.contextmanager
def connected(url: str) -> Iterator[Connection]:
    engine = database.create_engine(url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def write_before_migrations(url: str) -> None:
    """A database as the service wrote it before migrations: `create_all`, then rows of every kind."""
    schema = migrations.baseline_schema()
    with connected(url) as db:
        schema.create_all(db)
        db.execute(insert(schema.tables["chat_sessions"]), SESSIONS)
        db.execute(insert(schema.tables["chat_messages"]), MESSAGES)
        if db.dialect.name == "postgresql":  # the ids were given: move the sequences past them
            for table in ("chat_sessions", "chat_messages"):
                db.exec_driver_sql(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
        db.commit()


def raw_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of both tables as the driver returns it (SQLite: dates and JSON as stored text)."""
    with connected(url) as db:
        return {
            table: [dict(row) for row in db.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id").mappings()]
            for table in ("chat_sessions", "chat_messages")
        }


def versions(url: str) -> list[str] | None:
    """The alembic_version rows; None when there is no such table."""
    with connected(url) as db:
        if not inspect(db).has_table("alembic_version"):
            return None
        return list(db.scalars(text("SELECT version_num FROM alembic_version")))


def schema_of(url: str) -> dict[str, Any]:
    """The reflected schema (and on SQLite the DDL itself), the version table left out."""
    with connected(url) as db:
        reflected = inspect(db)
        tables = sorted(set(reflected.get_table_names()) - {"alembic_version"})
        found: dict[str, Any] = {
            table: {
                "columns": [
                    {**column, "type": repr(column["type"])} for column in reflected.get_columns(table)
                ],
                "primary key": reflected.get_pk_constraint(table),
                "foreign keys": reflected.get_foreign_keys(table),
                "indexes": sorted(reflected.get_indexes(table), key=lambda index: str(index["name"])),
                "unique": reflected.get_unique_constraints(table),
            }
            for table in tables
        }
        if db.dialect.name == "sqlite":
            query = "SELECT name, sql FROM sqlite_master WHERE tbl_name != 'alembic_version'"
            # A table a batch revision rebuilt is renamed into place, and SQLite then writes its
            # name quoted: the same schema.
            found["sqlite_master"] = {
                name: sql and re.sub(r'"(\w+)"', r"\1", sql) for name, sql in db.exec_driver_sql(query).all()
            }
        return found


def differences_from_models(url: str) -> list[Any]:
    with connected(url) as db:
        context = MigrationContext.configure(
            db, opts={"compare_type": True, "compare_server_default": True, "include_name": migrations.ours}
        )
        return compare_metadata(context, database.Base.metadata)


async def migrate(url: str) -> None:
    db = database.Database(url)
    try:
        await db.migrate()
    finally:
        await db.close()


# --- the schema ---------------------------------------------------------------------------------


async def test_an_empty_database_upgraded_to_head_is_what_create_all_makes(
    new_database: Callable[[], str],
) -> None:
    upgraded, created = new_database(), new_database()
    await migrate(upgraded)
    with connected(created) as db:
        database.Base.metadata.create_all(db)
        db.commit()
    assert versions(upgraded) == [HEAD]
    assert differences_from_models(upgraded) == []
    assert schema_of(upgraded) == schema_of(created)


def test_the_baseline_is_the_schema_create_all_wrote_before_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'baseline.db'}"
    with connected(url) as db:
        migrations.baseline_schema().create_all(db)
        db.commit()
    assert schema_of(url)["sqlite_master"] == CREATE_ALL_DDL


# --- a database written before migrations --------------------------------------------------------


# At start-up the service marks replies a dead process left `streaming` as interrupted, text kept.
INTERRUPTED = {"status": "interrupted", "finish_reason": "interrupted"}


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def tree_columns(table: str, row: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The columns the revisions after the baseline add, as they fill them for a row written before.

    Every row is the local user's (0005); each chat becomes a tree of one branch (0007): a message's
    parent is the one before it in its session, and the session's current leaf its last message.
    """
    if table == "chat_sessions":
        own = [m["id"] for m in messages if m["session_id"] == row["id"]]
        return {"chat_id": None, "user_id": 1, "current_leaf_id": max(own, default=None), "origin": None}
    earlier = [m["id"] for m in messages if m["session_id"] == row["session_id"] and m["id"] < row["id"]]
    return {"documents": None, "tool_calls": None, "parent_id": max(earlier, default=None)}


def upgraded(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Rows written before migrations, as an upgrade to head leaves them."""
    messages = rows["chat_messages"]
    return {
        table: [{**row, **tree_columns(table, row, messages)} for row in found]
        for table, found in rows.items()
    }


def served_session(row: dict[str, Any], count: int) -> dict[str, Any]:
    """A session row as the API gives it: aware timestamps, and its count of messages."""
    stamps = {"created_at": aware(row["created_at"]), "updated_at": aware(row["updated_at"])}
    # The owner is not part of a session's answer.
    added = {k: v for k, v in tree_columns("chat_sessions", row, MESSAGES).items() if k != "user_id"}
    return {**row, **added, **stamps, "message_count": count}


def served_message(row: dict[str, Any]) -> dict[str, Any]:
    """A message row as the API gives it, once the service has started on it."""
    fields = {key: value for key, value in row.items() if key != "session_id"}
    return {
        **fields,
        **tree_columns("chat_messages", row, MESSAGES),
        "created_at": aware(row["created_at"]),
        **(INTERRUPTED if row["status"] == "streaming" else {}),
    }


def parsed(item: dict[str, Any]) -> dict[str, Any]:
    """An item of the API's JSON with its timestamps parsed back into datetimes."""
    stamps = {key: datetime.fromisoformat(item[key]) for key in ("created_at", "updated_at") if key in item}
    messages = {"messages": [parsed(m) for m in item["messages"]]} if "messages" in item else {}
    return {**item, **stamps, **messages}


async def test_a_database_written_before_migrations_is_stamped_and_served_with_every_row(
    new_database: Callable[[], str], make_settings: SettingsFactory, serve: ServeApp
) -> None:
    url = new_database()
    write_before_migrations(url)
    before = raw_rows(url)
    assert versions(url) is None
    async with serve(make_settings(database_url=url)) as http:
        listed = await http.get("/api/v1/sessions")
        details = [(await http.get(f"/api/v1/sessions/{row['id']}")).json() for row in SESSIONS]
    assert listed.headers["X-Total-Count"] == "2"
    # Most recently active first.
    assert [parsed(item) for item in listed.json()] == [
        served_session(SESSIONS[1], 2),
        served_session(SESSIONS[0], 7),
    ]
    for session, detail in zip(SESSIONS, details, strict=True):
        messages = [served_message(row) for row in MESSAGES if row["session_id"] == session["id"]]
        assert parsed(detail) == {**served_session(session, len(messages)), "messages": messages}
    assert versions(url) == [HEAD]
    after, before = raw_rows(url), upgraded(before)
    assert after["chat_sessions"] == before["chat_sessions"]
    assert after["chat_messages"] == [
        {**row, **(INTERRUPTED if row["status"] == "streaming" else {})} for row in before["chat_messages"]
    ]


async def test_upgrading_twice_changes_nothing(new_database: Callable[[], str]) -> None:
    url = new_database()
    write_before_migrations(url)
    await migrate(url)
    once = (versions(url), schema_of(url), raw_rows(url))
    await migrate(url)
    assert (versions(url), schema_of(url), raw_rows(url)) == once
    assert once[0] == [HEAD]


# A worker's start-up upgrade, as a process of its own. Once imported, it waits until all of them
# are (a file each in a folder), so that the upgrades really start together.
UPGRADE = """
import asyncio, pathlib, sys, time
import database
folder, url, count = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
(folder / str(time.perf_counter_ns())).touch()
deadline = time.monotonic() + 20
while len(list(folder.iterdir())) < count and time.monotonic() < deadline:
    time.sleep(0.001)
asyncio.run(database.Database(url).migrate())
"""


def test_workers_starting_together_upgrade_one_at_a_time(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    empty, written = new_database(), new_database()
    write_before_migrations(written)
    rows = raw_rows(written)
    ready = tmp_path / "ready"
    ready.mkdir()
    urls = [empty, written] * 4
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE, str(ready), url, str(len(urls))],
            cwd=ROOT,
            env=clean_env(),
            stderr=subprocess.PIPE,
        )
        for url in urls
    ]
    errors = [worker.communicate(timeout=40)[1].decode() for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * len(workers), errors
    for url in (empty, written):
        assert (versions(url), differences_from_models(url)) == ([HEAD], [])
    assert raw_rows(written) == upgraded(rows)


async def test_foreign_keys_are_enforced_again_after_the_upgrade(tmp_path: Path) -> None:
    db = database.Database(f"sqlite:///{tmp_path / 'chat.db'}")
    try:
        await db.migrate()
        # On the database thread's connection, the one the upgrade ran on.
        assert await db.run(lambda session: session.execute(text("PRAGMA foreign_keys")).scalar()) == 1
    finally:
        await db.close()


# --- schemas the service does not know ------------------------------------------------------------


async def starting(url: str, make_settings: SettingsFactory) -> str:
    """Start the service's lifespan on `url`; the SchemaError that must stop it, as text."""
    app = create_app(make_settings(database_url=url))
    with pytest.raises(migrations.SchemaError) as stopped:
        async with app.router.lifespan_context(app):
            pass
    return str(stopped.value)


async def test_tables_unlike_the_baseline_without_a_version_table_stop_start_up_untouched(
    new_database: Callable[[], str], make_settings: SettingsFactory
) -> None:
    url = new_database()
    write_before_migrations(url)
    with connected(url) as db:
        db.exec_driver_sql("ALTER TABLE chat_messages ADD COLUMN parent_id INTEGER")
        db.exec_driver_sql("DROP INDEX ix_chat_messages_status")
        db.commit()
    before = (schema_of(url), raw_rows(url))
    error = await starting(url, make_settings)
    assert error.startswith(f"The database {url} has the service's tables but no alembic_version table")
    assert "column chat_messages.parent_id is not expected" in error
    assert "index ix_chat_messages_status on chat_messages is missing" in error
    assert "Nothing was changed" in error
    assert (versions(url), schema_of(url), raw_rows(url)) == (None, *before)


async def test_a_database_at_a_revision_newer_than_the_service_stops_start_up(
    new_database: Callable[[], str], make_settings: SettingsFactory
) -> None:
    url = new_database()
    await migrate(url)
    with connected(url) as db:
        db.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
        db.commit()
    error = await starting(url, make_settings)
    assert error.startswith(f"The database {url} is at schema revision 0099_from_the_future")
    assert f"does not know (its newest is {HEAD}): a newer version has upgraded it" in error
    assert versions(url) == ["0099_from_the_future"]


def test_the_service_process_exits_at_start_saying_what_differs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    write_before_migrations(url)
    with connected(url) as db:
        db.exec_driver_sql("ALTER TABLE chat_sessions DROP COLUMN system_prompt")
        db.commit()
    service = ServiceProcess(tmp_path / "service.log", DATABASE_URL=url, UPLOAD_DIR=str(tmp_path / "up"))
    with pytest.raises(RuntimeError, match="service exited") as failed:
        service.start()
    assert "column chat_sessions.system_prompt is missing" in str(failed.value)
    assert versions(url) is None


# --- revisions ----------------------------------------------------------------------------------


def with_revision(tmp_path: Path, body: str) -> Path:
    """A copy of migrations/ with one more revision after head, whose upgrade() runs `body`."""
    folder = tmp_path / "migrations"
    shutil.copytree(Path(migrations.__file__).parent, folder, ignore=shutil.ignore_patterns("__pycache__"))
    header = (
        f"import sqlalchemy as sa\nfrom alembic import op\n\nrevision = 'next'\ndown_revision = {HEAD!r}\n"
    )
    upgrade = "def upgrade():\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")
    (folder / "versions" / "next.py").write_text(f"{header}\n\n{upgrade}\n")
    return folder


def upgrade_with(folder: Path, url: str) -> None:
    with connected(url) as db:
        config = migrations.alembic_config(db)
        config.set_main_option("script_location", str(folder))
        command.upgrade(config, "head")


def test_a_batch_revision_rebuilding_chat_sessions_keeps_every_message(tmp_path: Path) -> None:
    # SQLite alters a table by copying it and dropping the old one, whose ON DELETE CASCADE
    # would take every message with it were foreign keys on.
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    write_before_migrations(url)
    before = raw_rows(url)
    folder = with_revision(
        tmp_path, 'with op.batch_alter_table("chat_sessions", recreate="always"):\n    pass'
    )
    upgrade_with(folder, url)
    assert (versions(url), raw_rows(url)) == (["next"], upgraded(before))


async def test_a_failing_revision_leaves_the_database_as_it_was(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    url = new_database()
    write_before_migrations(url)
    await migrate(url)
    before = (schema_of(url), raw_rows(url))
    folder = with_revision(
        tmp_path,
        """
        op.create_table("scratch", sa.Column("id", sa.Integer(), primary_key=True))
        op.execute("DELETE FROM chat_messages")
        raise RuntimeError("this revision fails")
        """,
    )
    with pytest.raises(RuntimeError, match="this revision fails"):
        upgrade_with(folder, url)
    assert (versions(url), schema_of(url), raw_rows(url)) == ([HEAD], *before)


def test_the_alembic_command_line_upgrades_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    write_before_migrations(url)
    before = raw_rows(url)

    def alembic(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "alembic", *args],
            cwd=ROOT,
            env=clean_env(DATABASE_URL=url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    assert "stamped at 0001_baseline" in alembic("upgrade", "head")
    assert f"{HEAD} (head)" in alembic("current")
    assert "No new upgrade operations detected" in alembic("check")
    assert (versions(url), raw_rows(url)) == ([HEAD], upgraded(before))


async def test_a_deleted_sessions_id_is_never_given_to_a_new_one(client: httpx.AsyncClient) -> None:
    body = {"title": "t", "provider": "deepseek", "model": "deepseek-chat"}
    first = (await client.post("/api/v1/sessions", json=body)).json()["id"]
    assert (await client.delete(f"/api/v1/sessions/{first}")).status_code == 204
    second = (await client.post("/api/v1/sessions", json=body)).json()["id"]
    assert second > first
    assert (await client.get(f"/api/v1/sessions/{first}")).status_code == 404


# --- owners (revision 0005) -----------------------------------------------------------------------


async def test_a_database_from_before_users_upgrades_with_every_row_the_local_users(
    new_database: Callable[[], str], make_settings: SettingsFactory, serve: ServeApp
) -> None:
    url = new_database()
    write_before_migrations(url)
    with connected(url) as db:
        command.upgrade(migrations.alembic_config(db), "0003_session_chat_ids")
        db.execute(text("UPDATE chat_sessions SET chat_id = 'kyoto' WHERE id = 1"))
        db.commit()
    await migrate(url)
    with connected(url) as db:
        owners = db.execute(text("SELECT id, user_id FROM chat_sessions ORDER BY id")).all()
        users = db.execute(text("SELECT id, email, password_hash FROM users")).all()
        files = db.execute(text("SELECT name, user_id FROM upload_owners ORDER BY name")).all()
    assert owners == [(1, 1), (2, 1)]
    assert users == [(1, None, None)]  # the local user, who has no way to sign in
    # Every file a stored message refers to, uploaded or generated.
    names = ["generated.png", "question.mp3", "temple.png", "walk.mp4"]
    assert files == [(name, 1) for name in names]
    # The local user's data is what AUTH_MODE=off serves, chat ids included.
    async with serve(make_settings(database_url=url)) as http:
        listed = await http.get("/api/v1/sessions")
        chat = await http.get("/chat/history/kyoto")
    assert [session["id"] for session in listed.json()] == [2, 1]
    assert chat.status_code == 200
