"""Persistence of accounts, sign-ins, API keys, SSO identities, vendor keys and file owners.

Functions take the unit of work first, as database.py's do. The two a request's credential check
runs (`login_user`, `api_key_user`) are prebuilt Core statements, run by `Database.run_core`.
"""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from database import (
    LOCAL_USER_ID,
    ApiKey,
    ChatSession,
    LoginSession,
    SqlRunner,
    SsoIdentity,
    UploadOwner,
    User,
    VendorKey,
    utcnow,
)

_USER_COLUMNS = (User.id, User.email, User.is_admin)
_LOGIN_USER = (
    select(*_USER_COLUMNS, LoginSession.expires_at, LoginSession.revoked_at)
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(LoginSession.id == bindparam("login_id"))
)
_API_KEY_USER = (
    select(*_USER_COLUMNS)
    .join(ApiKey, ApiKey.user_id == User.id)
    .where(ApiKey.key_hash == bindparam("digest"))
)
_VENDOR_KEY = select(VendorKey.encrypted_key).where(
    VendorKey.user_id == bindparam("user_id"), VendorKey.provider == bindparam("provider")
)


# --- accounts ---------------------------------------------------------------------------------


def create_account(db: Session, email: str | None, password_hash: str | None) -> User:
    """A new account; the first one besides the local user is an admin."""
    first = not db.scalar(select(func.count()).select_from(User).where(User.id != LOCAL_USER_ID))
    user = User(email=email, password_hash=password_hash, is_admin=first)
    db.add(user)
    db.flush()
    return user


def user_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(User.email == email))


def get_user(db: Session, user_id: int) -> User | None:
    return db.get(User, user_id)


# --- sign-ins and credentials -----------------------------------------------------------------


def open_login(db: Session, login_id: str, user_id: int, expires_at: datetime) -> None:
    db.add(LoginSession(id=login_id, user_id=user_id, expires_at=expires_at))


def login_user(db: Connection, login_id: str) -> Row[int, str | None, bool, datetime, datetime | None] | None:
    """The user of a sign-in, with the sign-in's expiry and revocation (Core)."""
    return db.execute(_LOGIN_USER, {"login_id": login_id}).first()


def revoke_login(db: Session, login_id: str) -> None:
    db.execute(
        update(LoginSession)
        .where(LoginSession.id == login_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def api_key_user(db: Connection, digest: str) -> Row[int, str | None, bool] | None:
    return db.execute(_API_KEY_USER, {"digest": digest}).first()


def add_api_key(db: Session, user_id: int, name: str, digest: str, tail: str) -> ApiKey:
    key = ApiKey(user_id=user_id, name=name, key_hash=digest, tail=tail)
    db.add(key)
    db.flush()
    return key


def list_api_keys(db: Session, user_id: int) -> Sequence[ApiKey]:
    return db.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)).all()


def delete_api_key(db: Session, user_id: int, key_id: int) -> bool:
    result = db.execute(delete(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def sso_user(db: Session, issuer: str, subject: str) -> User | None:
    query = select(User).join(SsoIdentity).where(SsoIdentity.issuer == issuer, SsoIdentity.subject == subject)
    return db.scalar(query)


def link_sso(db: Session, user_id: int, issuer: str, subject: str) -> None:
    db.add(SsoIdentity(user_id=user_id, issuer=issuer, subject=subject))


# --- vendor keys ------------------------------------------------------------------------------


def vendor_key(db: Connection, user_id: int, provider: str) -> str | None:
    """A user's encrypted key for a provider (Core), or None."""
    return db.execute(_VENDOR_KEY, {"user_id": user_id, "provider": provider}).scalar()


def put_vendor_key(db: Session, user_id: int, provider: str, encrypted: str, tail: str) -> VendorKey:
    """Store a user's key for a provider, replacing the one they had for it."""
    db.execute(delete(VendorKey).where(VendorKey.user_id == user_id, VendorKey.provider == provider))
    key = VendorKey(user_id=user_id, provider=provider, encrypted_key=encrypted, tail=tail)
    db.add(key)
    db.flush()
    return key


def list_vendor_keys(db: Session, user_id: int) -> Sequence[VendorKey]:
    return db.scalars(select(VendorKey).where(VendorKey.user_id == user_id).order_by(VendorKey.id)).all()


def delete_vendor_key(db: Session, user_id: int, key_id: int) -> bool:
    result = db.execute(delete(VendorKey).where(VendorKey.id == key_id, VendorKey.user_id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- files ------------------------------------------------------------------------------------


def own_files(db: SqlRunner, user_id: int, names: list[str]) -> None:
    if names:
        db.execute(insert(UploadOwner), [{"name": name, "user_id": user_id} for name in names])


def own_session_files(db: SqlRunner, session_id: int, names: list[str]) -> None:
    """Generated files become the owner's of the session they were made in."""
    owner = db.execute(select(ChatSession.user_id).where(ChatSession.id == session_id)).scalar()
    if owner is not None:
        own_files(db, owner, names)


def file_owner(db: SqlRunner, name: str) -> int | None:
    return db.execute(select(UploadOwner.user_id).where(UploadOwner.name == name)).scalar()


def owned_files(db: SqlRunner, user_id: int, names: list[str]) -> set[str]:
    found = select(UploadOwner.name).where(UploadOwner.user_id == user_id, UploadOwner.name.in_(names))
    return set(db.execute(found).scalars())


# --- handing data over ------------------------------------------------------------------------


def transfer_data(db: Session, from_user: int, to_user: int) -> int:
    """Give every session and file of `from_user` to `to_user`; the number of sessions moved."""
    moved = db.execute(update(ChatSession).where(ChatSession.user_id == from_user).values(user_id=to_user))
    db.execute(update(UploadOwner).where(UploadOwner.user_id == from_user).values(user_id=to_user))
    return int(moved.rowcount)  # type: ignore[attr-defined]
