"""Baseline: the schema as the service made it before migrations, with `Base.metadata.create_all`.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-03

The tables are written out here and stay as they are: the models in database.py move on with
later revisions, the baseline does not. A database the service made before migrations holds these
tables and no alembic_version table; the service compares it with `schema()` and stamps it here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateIndex, CreateTable

revision: str = "0001_baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def schema() -> sa.MetaData:
    """The two tables as database.py declared them then: types, nullability, indexes, the cascade."""
    metadata = sa.MetaData()
    sa.Table(
        "chat_sessions",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("system_prompt", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False, index=True),
    )
    sa.Table(
        "chat_messages",
        metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "session_id",
            sa.Integer(),
            sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("images", sa.JSON()),
        sa.Column("videos", sa.JSON()),
        sa.Column("audios", sa.JSON()),
        sa.Column("thought_process", sa.Text()),
        sa.Column("thought_signatures", sa.JSON()),
        sa.Column("search_results", sa.JSON()),
        sa.Column("provider", sa.String(64)),
        sa.Column("model", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("finish_reason", sa.String(64)),
        sa.Column("usage", sa.JSON()),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    return metadata


def upgrade() -> None:
    # What create_all ran, in its order: each table, then its indexes. The same Table objects
    # give the same DDL, down to the index and constraint names.
    for table in schema().sorted_tables:
        op.execute(CreateTable(table))
        for index in sorted(table.indexes, key=lambda index: str(index.name)):
            op.execute(CreateIndex(index))


def downgrade() -> None:
    for table in reversed(schema().sorted_tables):
        op.drop_table(table.name)
