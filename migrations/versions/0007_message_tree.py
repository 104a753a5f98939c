"""Conversations become trees: each message has a parent, each session a current leaf.

Revision ID: 0007_message_tree
Revises: 0006_message_tool_calls
Create Date: 2026-12-04

A chat stored before this revision is a line; it becomes a tree of one branch: each message's
parent is the message before it in its session (by id), and the session's current leaf is its last
message. `chat_messages.parent_id` references `chat_messages.id`, with no ON DELETE action: a
branch is deleted whole, in one statement. `chat_sessions.current_leaf_id` has no foreign key, so
the two tables do not reference each other. On SQLite both tables are rebuilt in batch mode, as
`create_all` would write them, keeping their AUTOINCREMENT (revision 0002).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import batch_rebuild

revision: str = "0007_message_tree"
down_revision: str | Sequence[str] | None = "0006_message_tool_calls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_chat_messages_parent_id"
FOREIGN_KEY = "fk_chat_messages_parent_id"  # named: batch mode adds no unnamed constraint

# Correlated subqueries that SQLite and PostgreSQL both run as written.
FILL_PARENTS = """
UPDATE chat_messages SET parent_id = (
    SELECT max(earlier.id) FROM chat_messages AS earlier
    WHERE earlier.session_id = chat_messages.session_id AND earlier.id < chat_messages.id
)
"""
FILL_LEAVES = """
UPDATE chat_sessions SET current_leaf_id = (
    SELECT max(message.id) FROM chat_messages AS message WHERE message.session_id = chat_sessions.id
)
"""


def upgrade() -> None:
    with op.batch_alter_table("chat_messages", **batch_rebuild()) as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer()))
        batch.create_foreign_key(FOREIGN_KEY, "chat_messages", ["parent_id"], ["id"])
        batch.create_index(INDEX, ["parent_id"])
    with op.batch_alter_table("chat_sessions", **batch_rebuild()) as batch:
        batch.add_column(sa.Column("current_leaf_id", sa.Integer()))
    op.execute(FILL_PARENTS)
    op.execute(FILL_LEAVES)


def downgrade() -> None:
    with op.batch_alter_table("chat_sessions", **batch_rebuild()) as batch:
        batch.drop_column("current_leaf_id")
    with op.batch_alter_table("chat_messages", **batch_rebuild()) as batch:
        batch.drop_index(INDEX)
        batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch.drop_column("parent_id")
