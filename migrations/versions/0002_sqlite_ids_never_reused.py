"""SQLite: ids of deleted sessions and messages are never given again (AUTOINCREMENT).

Revision ID: 0002_sqlite_ids_never_reused
Revises: 0001_baseline
Create Date: 2026-12-03

Without AUTOINCREMENT, SQLite gives a new row the largest id in use plus one, so a session deleted
last had its id handed to the next one: a client still holding the old id read another chat.
PostgreSQL's sequences never reuse an id; there this revision changes nothing.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_sqlite_ids_never_reused"
down_revision: str | Sequence[str] | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("chat_sessions", "chat_messages")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        # A batch rebuild copies the rows into a new table; their ids are kept, and the counter
        # starts from the largest of them.
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
