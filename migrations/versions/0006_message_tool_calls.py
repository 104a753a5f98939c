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
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006_message_tool_calls"
down_revision: str | Sequence[str] | None = "0005_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _batch() -> dict[str, Any]:
    # PostgreSQL alters the table in place; SQLite copies it, and the copy keeps AUTOINCREMENT.
    if op.get_bind().dialect.name != "sqlite":
        return {}
    return {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}


def upgrade() -> None:
    with op.batch_alter_table("chat_messages", **_batch()) as batch:
        batch.add_column(sa.Column("tool_calls", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("chat_messages", **_batch()) as batch:
        batch.drop_column("tool_calls")
