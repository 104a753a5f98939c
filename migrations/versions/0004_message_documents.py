"""Messages carry documents (PDFs) beside their images, videos and audio.

Revision ID: 0004_message_documents
Revises: 0003_session_chat_ids
Create Date: 2026-12-04

A nullable JSON list of media URLs, like `images`. PostgreSQL adds it in place at the end of the
table; on SQLite the table is rebuilt in batch mode as `create_all` writes it (the column last,
AUTOINCREMENT kept), so both dialects hold the schema the models describe.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import batch_rebuild

revision: str = "0004_message_documents"
down_revision: str | Sequence[str] | None = "0003_session_chat_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_messages", **batch_rebuild()) as batch:
        batch.add_column(sa.Column("documents", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("chat_messages", **batch_rebuild()) as batch:
        batch.drop_column("documents")
