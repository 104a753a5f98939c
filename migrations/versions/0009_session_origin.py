"""Sessions get an origin: where an imported session came from, so that importing it again adds nothing.

Revision ID: 0009_session_origin
Revises: 0008_search
Create Date: 2026-12-04

Nullable (sessions made here have none) and unique within one user's sessions, as chat_id is
(0005): two users may each import the same file.
On SQLite the table is rebuilt in batch mode, as `create_all` would write it, keeping its
AUTOINCREMENT; the rebuild drops the search triggers on it, which are created again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import batch_rebuild
from search import schema as search_schema

revision: str = "0009_session_origin"
down_revision: str | Sequence[str] | None = "0008_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_chat_sessions_user_origin"


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions", **batch_rebuild()) as batch:
        batch.add_column(sa.Column("origin", sa.String(200)))
        batch.create_index(INDEX, ["user_id", "origin"], unique=True)
    search_schema.restore_triggers(op.get_bind(), "chat_sessions")


def downgrade() -> None:
    with op.batch_alter_table("chat_sessions", **batch_rebuild()) as batch:
        batch.drop_index(INDEX)
        batch.drop_column("origin")
    search_schema.restore_triggers(op.get_bind(), "chat_sessions")
