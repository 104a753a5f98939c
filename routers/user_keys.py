"""A user's own vendor keys (seed 003's /user/keys): stored encrypted, shown only by a masked tail."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

import database
from auth import store
from auth.current_user import Auth, CurrentUser
from auth.vendor_keys import masked, tail
from models import MAX_ROW_ID, ApiError, ProviderId, RequestBody
from routers.deps import Db, Registry
from routers.errors import UNREADABLE_BODY, Responses, error_answer, responses

router = APIRouter(prefix="/user/keys", tags=["user keys"])

UNUSABLE_KEY: Responses = {
    400: error_answer(
        "An unknown provider, one that takes no key, or ENCRYPTION_KEY is not set on the server"
    )
}
VENDOR_KEY_NOT_FOUND: Responses = {404: error_answer("No vendor key of yours with this id")}


class VendorKeyIn(RequestBody):
    provider: ProviderId
    # It is sent in an HTTP header: printable ASCII only.
    api_key: str = Field(
        min_length=1, max_length=1000, pattern=r"^[\x21-\x7e]+$", description="The vendor's API key"
    )


class VendorKeyOut(BaseModel):
    id: int
    provider: str
    masked_key: str = Field(description="`****` and the key's last 4 characters; the key is never shown")
    created_at: datetime


class NoKeyTaken(ApiError):
    status_code = 400


def _out(row: database.VendorKey) -> VendorKeyOut:
    return VendorKeyOut(
        id=row.id, provider=row.provider, masked_key=masked(row.tail), created_at=row.created_at
    )


@router.get("")
async def list_keys(user: CurrentUser, db: Db) -> list[VendorKeyOut]:
    """The caller's vendor keys, masked."""
    return [_out(row) for row in await db.run(store.list_vendor_keys, user.id)]


@router.post("", status_code=status.HTTP_201_CREATED, responses=responses(UNREADABLE_BODY, UNUSABLE_KEY))
async def add_key(
    body: VendorKeyIn, user: CurrentUser, db: Db, auth: Auth, registry: Registry
) -> VendorKeyOut:
    """Store the caller's key for a provider (replacing theirs for it): their chats with it use it."""
    provider = registry.known(body.provider)
    if provider.key_setting is None:
        raise NoKeyTaken(f"{provider.label} takes no API key")
    encrypted = auth.cipher.encrypt(body.api_key)
    row = await db.run(store.put_vendor_key, user.id, provider.id, encrypted, tail(body.api_key))
    return _out(row)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=VENDOR_KEY_NOT_FOUND)
async def delete_key(key_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], user: CurrentUser, db: Db) -> None:
    """Delete one of the caller's vendor keys; their chats go back to the operator's key, if allowed."""
    if not await db.run(store.delete_vendor_key, user.id, key_id):
        raise database.NotFoundError(f"Vendor key {key_id} not found")
