"""Sessions get a chat id: the id the simple chat API (POST /chat at the root) knows a session by.

Revision ID: 0003_session_chat_ids
Revises: 0002_sqlite_ids_never_reused
Create Date: 2026-12-04

Nullable (a session made through the main API has none) and unique, through a unique index;
both SQLite and PostgreSQL let any number of rows hold NULL in it. On SQLite the table is rebuilt
in batch mode, as `create_all` would write it, keeping its AUTOINCREMENT (revision 0002).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import batch_rebuild

revision: str = "0003_session_chat_ids"
down_revision: str | Sequence[str] | None = "0002_sqlite_ids_never_reused"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_chat_sessions_chat_id"


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions", **batch_rebuild()) as batch:
        batch.add_column(sa.Column("chat_id", sa.String(100)))
        batch.create_index(INDEX, ["chat_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("chat_sessions", **batch_rebuild()) as batch:
        batch.drop_index(INDEX)
        batch.drop_column("chat_id")
