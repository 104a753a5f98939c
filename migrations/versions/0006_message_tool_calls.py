"""Replies keep the tool calls they made, for the OpenAI-compatible front door's accounts of its calls.

Revision ID: 0006_message_tool_calls
Revises: 0005_users
Create Date: 2026-12-04

A front-door call's usage and cost are stored in the existing `usage` JSON column, and the vendor
that answered in `provider` and `model`; what had no column is the function calls a reply makes
(`tool_calls`: whole calls, `[{index, id, type, function: {name, arguments}}]`), nullable. On
SQLite the table is rebuilt in batch mode, as `create_all` would write it, keeping its
AUTOINCREMENT (revision 0002).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import batch_rebuild

revision: str = "0006_message_tool_calls"
down_revision: str | Sequence[str] | None = "0005_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chat_messages", **batch_rebuild()) as batch:
        batch.add_column(sa.Column("tool_calls", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("chat_messages", **batch_rebuild()) as batch:
        batch.drop_column("tool_calls")
