"""Users: accounts, their sign-ins, API keys, SSO identities and vendor keys; every session has an owner.

Revision ID: 0005_users
Revises: 0004_message_documents
Create Date: 2026-12-04

The local user (id 1) is made here, and every session already stored, and every file already
under uploads/ that a message refers to, becomes its: AUTH_MODE=off serves that user, and turning
accounts on loses nothing (an admin hands the local user's data to an account). A chat id names
a chat of one user from now on: the unique index on it becomes one on (user_id, chat_id).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from database import UTCDateTime
from migrations import batch_rebuild

revision: str = "0005_users"
down_revision: str | Sequence[str] | None = "0004_message_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCAL_USER_ID = 1
OLD_INDEX = "ix_chat_sessions_chat_id"
NEW_INDEX = "ix_chat_sessions_user_chat_id"
# Named, as the model names it: a batch rebuild on SQLite can only add a named constraint.
OWNER_KEY = "fk_chat_sessions_user_id"
# Documents came in revision 0004, before this one.
MEDIA_COLUMNS = ("images", "videos", "audios", "documents")


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), nullable=False)


def _owner() -> sa.Column[int]:
    return sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False)


def _create_tables() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        _owner(),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])
    op.create_table(
        "api_keys",
        _id(),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("tail", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        # Before the unique constraint, where create_all writes it.
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.UniqueConstraint("key_hash"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "sso_identities",
        _id(),
        _owner(),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sso_identities_issuer_subject", "sso_identities", ["issuer", "subject"], unique=True)
    op.create_index("ix_sso_identities_user_id", "sso_identities", ["user_id"])
    op.create_table(
        "user_vendor_keys",
        _id(),
        _owner(),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("encrypted_key", sa.Text(), nullable=False),
        sa.Column("tail", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_user_vendor_keys_user_provider", "user_vendor_keys", ["user_id", "provider"], unique=True
    )
    op.create_table(
        "upload_owners",
        sa.Column("name", sa.String(200), nullable=False),
        _owner(),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_upload_owners_user_id", "upload_owners", ["user_id"])


def _make_local_user() -> None:
    users = sa.table(
        "users",
        sa.column("id", sa.Integer()),
        sa.column("is_admin", sa.Boolean()),
        sa.column("created_at", UTCDateTime()),
    )
    op.execute(sa.insert(users).values(id=LOCAL_USER_ID, is_admin=False, created_at=sa.func.now()))
    if op.get_bind().dialect.name == "postgresql":  # the id was given: move the sequence past it
        op.execute("SELECT setval('users_id_seq', 1)")


def _own_stored_uploads() -> None:
    """Files that stored messages refer to become the local user's, as their sessions do."""
    bind = op.get_bind()
    messages = sa.table("chat_messages", *(sa.column(name, sa.JSON()) for name in MEDIA_COLUMNS))
    names: set[str] = set()
    for row in bind.execute(sa.select(messages)):
        for urls in row:
            names.update(url.removeprefix("/uploads/") for url in urls or () if url.startswith("/uploads/"))
    owners = sa.table("upload_owners", sa.column("name", sa.String()), sa.column("user_id", sa.Integer()))
    if names:
        op.bulk_insert(owners, [{"name": name, "user_id": LOCAL_USER_ID} for name in sorted(names)])


def upgrade() -> None:
    _create_tables()
    _make_local_user()
    with op.batch_alter_table("chat_sessions", **batch_rebuild()) as batch:
        batch.drop_index(OLD_INDEX)
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
    op.execute(f"UPDATE chat_sessions SET user_id = {LOCAL_USER_ID}")
    with op.batch_alter_table("chat_sessions", **batch_rebuild()) as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(OWNER_KEY, "users", ["user_id"], ["id"])
        batch.create_index(NEW_INDEX, ["user_id", "chat_id"], unique=True)
    _own_stored_uploads()


def downgrade() -> None:
    with op.batch_alter_table("chat_sessions", **batch_rebuild()) as batch:
        batch.drop_index(NEW_INDEX)
        batch.drop_constraint(OWNER_KEY, type_="foreignkey")
        batch.drop_column("user_id")
        batch.create_index(OLD_INDEX, ["chat_id"], unique=True)
    for table in (
        "upload_owners",
        "user_vendor_keys",
        "sso_identities",
        "api_keys",
        "auth_sessions",
        "users",
    ):
        op.drop_table(table)
