"""Schema migrations: the Alembic revisions in versions/, applied by the service at start.

`upgrade` brings a database to the newest revision in one transaction that has the database to
itself, so that workers starting together take turns and a failed revision changes nothing: on
SQLite that transaction holds the write lock from its first look at the schema to its commit, on
PostgreSQL an advisory lock. env.py runs it, for the service and for the `alembic` command alike.

Before it upgrades, `adopt` looks at what the database holds. A database the service wrote before
migrations has the baseline's tables and no alembic_version table: it is stamped at the baseline,
not created again. Tables that are not the baseline's, or a revision this code does not know, stop
the upgrade with a `SchemaError` that says what was found; nothing is changed or dropped.
"""

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command, op
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection

from search import schema as search_schema

logger = logging.getLogger(__name__)

BASELINE = "0001_baseline"
# The key of the PostgreSQL advisory lock that start-up upgrades take (any constant bigint).
ADVISORY_LOCK_KEY = 7_146_803_218_260_581_170


# Alembic's `context` and `op` are module globals: upgrades on two threads of one process would
# each run in the other's environment.
_one_at_a_time = threading.Lock()


def batch_rebuild() -> dict[str, Any]:
    """`op.batch_alter_table`'s arguments for a revision that changes a table.

    PostgreSQL alters the table in place; SQLite copies it as `create_all` would write it, and the
    copy keeps its AUTOINCREMENT (revision 0002).
    """
    if op.get_bind().dialect.name != "sqlite":
        return {}
    return {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}


class SchemaError(RuntimeError):
    """The database holds a schema this service does not upgrade; the message names it and says why."""


def ours(name: str | None, type_: str, _parents: Any) -> bool:
    """Whether autogenerate compares an object: not the search indexes, which no model declares."""
    return not search_schema.is_search_object(name)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without alembic.ini: this folder's revisions, run on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection) -> None:
    """Upgrade the database on `connection` to the newest revision (blocking).

    One upgrade at a time: across processes by the database's lock (`held`), within one by a lock.
    """
    with _one_at_a_time:
        command.upgrade(alembic_config(connection), "head")


@contextlib.contextmanager
def held(connection: Connection) -> Iterator[None]:
    """One transaction that has the database to itself until it commits (or rolls back)."""
    if connection.dialect.name == "sqlite":
        with _sqlite_held(connection):
            yield
        return
    with connection.begin():
        if connection.dialect.name == "postgresql":
            # Released at commit; a second process waits here, then finds the schema upgraded.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        yield


@contextlib.contextmanager
def _sqlite_held(connection: Connection) -> Iterator[None]:
    # A batch revision copies a table and drops the old one: with foreign keys on, dropping
    # chat_sessions would delete every message by its ON DELETE CASCADE. The pragma does nothing
    # inside a transaction, so the keys are off from before BEGIN to after COMMIT, checked before it.
    _pragma(connection, "foreign_keys=OFF")
    try:
        with connection.begin():
            # Python's sqlite3 begins a transaction only at the first INSERT or UPDATE, which would
            # leave the DDL before it outside any; IMMEDIATE takes the write lock at once.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise SchemaError(
                    f"The upgrade of {_name(connection)} would leave {len(broken)} rows whose foreign key "
                    f"matches no row (the first in table {broken[0][0]}); nothing was changed"
                )
    finally:
        _pragma(connection, "foreign_keys=ON")


def _pragma(connection: Connection, pragma: str) -> None:
    connection.exec_driver_sql(f"PRAGMA {pragma}")
    connection.commit()  # ends the transaction SQLAlchemy began for it, which SQLite never saw


def adopt(context: MigrationContext, script: ScriptDirectory) -> None:
    """Check the database before its upgrade; stamp one the service made before migrations.

    Raises:
        SchemaError: the database is at a revision this code does not know, or it has tables but
            no version table and they are not the baseline's.
    """
    connection = context.connection
    assert connection is not None, "adopt needs a database connection (not `alembic --sql`)"
    heads = context.get_current_heads()
    unknown = sorted(set(heads) - {revision.revision for revision in script.walk_revisions()})
    if unknown:
        raise SchemaError(
            f"The database {_name(connection)} is at schema revision {', '.join(unknown)}, which this "
            f"version of the service does not know (its newest is {script.get_current_head()}): a newer "
            "version has upgraded it. Run that version, or downgrade the database with its migrations."
        )
    if heads:
        return
    baseline = baseline_schema(script)
    if not set(inspect(connection).get_table_names()) & set(baseline.tables):
        return  # an empty database: it is upgraded from nothing
    differences = baseline_differences(connection, baseline)
    if differences:
        raise SchemaError(
            f"The database {_name(connection)} has the service's tables but no alembic_version table, "
            f"and they differ from the schema the service made before migrations ({BASELINE}): "
            f"{'; '.join(differences)}. Nothing was changed. Make the tables match that schema, or, "
            f"if they already hold what a later revision makes, record that with `alembic stamp <revision>`."
        )
    context.stamp(script, BASELINE)
    logger.info("%s holds the schema made before migrations: stamped at %s", _name(connection), BASELINE)


def baseline_schema(script: ScriptDirectory | None = None) -> MetaData:
    """The tables as the service made them before migrations: the baseline revision's `schema()`."""
    script = script or ScriptDirectory.from_config(alembic_config())
    schema: MetaData = script.get_revision(BASELINE).module.schema()
    return schema


def baseline_differences(connection: Connection, baseline: MetaData) -> list[str]:
    """How the baseline's tables in the database differ from `baseline`, one phrase per difference."""
    tables = set(baseline.tables)

    def ours(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or name in tables  # other tables in the database are none of ours

    context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": ours})
    differences: list[Any] = []
    for item in compare_metadata(context, baseline):
        differences.extend(item if isinstance(item, list) else [item])
    return [_describe(difference) for difference in differences]


def _describe(difference: tuple[Any, ...]) -> str:
    # Alembic's diffs lead from the database to the metadata: "add" is what the database lacks.
    kind, subject = difference[0], difference[1:]
    if kind.startswith("modify_"):
        _schema, table, column, _info, found, expected = subject
        if kind == "modify_nullable":
            found, expected = ("nullable" if value else "NOT NULL" for value in (found, expected))
            return f"{table}.{column} is {found}, expected {expected}"
        return f"{table}.{column} has {kind.removeprefix('modify_')} {found}, expected {expected}"
    action, _, what = kind.partition("_")
    state = "missing" if action == "add" else "not expected"
    if what == "column":
        return f"column {subject[1]}.{subject[2].name} is {state}"
    item = subject[0]
    if what == "fk":
        columns = ", ".join(item.column_keys)
        targets = ", ".join(element.target_fullname for element in item.elements)
        cascade = f" ON DELETE {item.ondelete}" if item.ondelete else ""
        return f"foreign key {item.table.name}({columns}) -> {targets}{cascade} is {state}"
    table_name = getattr(getattr(item, "table", None), "name", None)
    return f"{what} {item.name}{f' on {table_name}' if table_name else ''} is {state}"


def _name(connection: Connection) -> str:
    return connection.engine.url.render_as_string(hide_password=True)
