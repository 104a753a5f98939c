"""Messages carry documents (PDFs) beside their images, videos and audio.

Revision ID: 0004_message_documents
Revises: 0003_session_chat_ids
Create Date: 2026-12-04

A nullable JSON list of media URLs, like `images`. PostgreSQL adds it in place at the end of the
table; on SQLite the table is rebuilt in batch mode as `create_all` writes it (the column last,
AUTOINCREMENT kept), so both dialects hold the schema the models describe.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004_message_documents"
down_revision: str | Sequence[str] | None = "0003_session_chat_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _batch() -> dict[str, Any]:
    if op.get_bind().dialect.name != "sqlite":
        return {}
    return {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}


def upgrade() -> None:
    with op.batch_alter_table("chat_messages", **_batch()) as batch:
        batch.add_column(sa.Column("documents", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("chat_messages", **_batch()) as batch:
        batch.drop_column("documents")
