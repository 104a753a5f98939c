"""Full-text search: FTS5 tables kept by triggers on SQLite, tsvector and trigram indexes on PostgreSQL.

Revision ID: 0008_search
Revises: 0007_message_tree
Create Date: 2026-12-04

search/schema.py says what each dialect gets and why; the rows already stored are indexed here.
"""

from collections.abc import Sequence

from alembic import op

from search import schema

revision: str = "0008_search"
down_revision: str | Sequence[str] | None = "0007_message_tree"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    schema.create(op.get_bind())


def downgrade() -> None:
    schema.drop(op.get_bind())
