"""Accounts (seed 003's /auth routes): sign up, sign in (password or SSO), refresh, the session, logout.

Also personal API keys (`lk-...`) for scripts, and the admin's hand-over of the local user's data.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

import database
from auth import store
from auth.api_keys import is_api_key, key_digest, new_api_key
from auth.current_user import AdminUser, Auth, CurrentUser, bearer_token, current_user
from auth.errors import Conflict, Unauthorized
from auth.tokens import TokenPair
from models import MAX_ROW_ID, RequestBody, RowId
from routers.deps import Db
from routers.errors import UNREADABLE_BODY, Responses, error_answer, responses

# Sign-up and sign-in: open to anyone, whatever AUTH_MODE says.
public_router = APIRouter(prefix="/auth", tags=["auth"])
# The caller's own account: a credential is needed with AUTH_MODE=required.
router = APIRouter(prefix="/auth", tags=["auth"], dependencies=[Depends(current_user)])

EMAIL = Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", examples=["ada@example.com"])
PASSWORD = Field(min_length=8, max_length=256, description="At least 8 characters")

NOT_SIGNED_IN: Responses = {
    401: error_answer("No credential, or one that is tampered with, expired or revoked")
}
SIGNUP_CLOSED: Responses = {403: error_answer("Signing up is turned off (ALLOW_SIGNUP)")}
EMAIL_TAKEN: Responses = {409: error_answer("An account with this email exists")}
ISSUER_UNREACHABLE: Responses = {502: error_answer("The issuer's keys could not be fetched")}
TOO_MANY: Responses = {429: error_answer("Too many failed sign-ins for this account or from this address")}
NOT_ADMIN: Responses = {403: error_answer("Only an admin may do this")}
KEY_NOT_FOUND: Responses = {404: error_answer("No API key of yours with this id")}
USER_NOT_FOUND: Responses = {
    404: error_answer("No account with this id"),
    409: error_answer("Both own a chat of this id"),
}


class Credentials(RequestBody):
    email: Annotated[str, EMAIL]
    password: Annotated[str, PASSWORD]


class SsoIn(RequestBody):
    id_token: str = Field(min_length=1, description="An OpenID Connect ID token of an issuer in OIDC_ISSUERS")


class RefreshIn(RequestBody):
    refresh_token: str = Field(min_length=1)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None
    is_admin: bool


class TokensOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the access token is good for")


class SignedInOut(TokensOut):
    user: UserOut


class SessionInfoOut(BaseModel):
    user: UserOut
    auth_mode: str


class ApiKeyIn(RequestBody):
    name: str = Field(min_length=1, max_length=100)


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    tail: str = Field(description="The key's last characters, to tell keys apart")
    created_at: datetime


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, never again")


class TransferIn(RequestBody):
    from_user_id: RowId = Field(
        default=database.LOCAL_USER_ID, description="1: the local user (AUTH_MODE=off)"
    )
    to_user_id: RowId


class TransferOut(BaseModel):
    sessions_moved: int


def _tokens(tokens: TokenPair) -> TokensOut:
    return TokensOut(
        access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_in=tokens.expires_in
    )


def _signed_in(user: database.User, tokens: TokenPair) -> SignedInOut:
    return SignedInOut(user=UserOut.model_validate(user), **_tokens(tokens).model_dump())


@public_router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    responses=responses(UNREADABLE_BODY, SIGNUP_CLOSED, EMAIL_TAKEN),
)
async def sign_up(body: Credentials, auth: Auth) -> SignedInOut:
    """Make an account and sign in to it; the first account is an admin."""
    user, tokens = await auth.sign_up(body.email, body.password)
    return _signed_in(user, tokens)


@public_router.post("/signin", responses=responses(UNREADABLE_BODY, NOT_SIGNED_IN, TOO_MANY))
async def sign_in(body: Credentials, auth: Auth, request: Request) -> SignedInOut:
    """Email and password in, tokens out. Failures are limited per account and per address."""
    address = request.client.host if request.client else "unknown"
    user, tokens = await auth.sign_in(body.email, body.password, address)
    return _signed_in(user, tokens)


@public_router.post(
    "/sso", responses=responses(UNREADABLE_BODY, NOT_SIGNED_IN, SIGNUP_CLOSED, ISSUER_UNREACHABLE)
)
async def sign_in_sso(body: SsoIn, auth: Auth) -> SignedInOut:
    """Sign in (or up) with an OpenID Connect ID token, verified against its issuer's published keys."""
    user, tokens = await auth.sign_in_sso(body.id_token)
    return _signed_in(user, tokens)


@public_router.post("/refresh", responses=responses(UNREADABLE_BODY, NOT_SIGNED_IN))
async def refresh(body: RefreshIn, auth: Auth) -> TokensOut:
    """New tokens for a sign-in that has not been logged out, given its refresh token."""
    return _tokens(await auth.refresh(body.refresh_token))


@router.get("/session", responses=NOT_SIGNED_IN)
async def session_info(user: CurrentUser, auth: Auth) -> SessionInfoOut:
    """Who the credential stands for (the local user with AUTH_MODE=off)."""
    return SessionInfoOut(user=UserOut.model_validate(user), auth_mode=auth.settings.auth_mode)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_SIGNED_IN)
async def log_out(request: Request, auth: Auth) -> None:
    """Revoke the sign-in of this access token: it and its refresh token are refused from now on."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None or is_api_key(token):
        if auth.off:
            return  # nobody signed in: nothing to end
        raise Unauthorized("Log out with the access token of a sign-in (API keys are revoked by DELETE)")
    await auth.log_out(token)


@router.get("/api-keys", responses=NOT_SIGNED_IN)
async def list_api_keys(user: CurrentUser, db: Db) -> list[ApiKeyOut]:
    """The caller's API keys (their names and tails: the keys themselves are not kept)."""
    return [ApiKeyOut.model_validate(key) for key in await db.run(store.list_api_keys, user.id)]


@router.post(
    "/api-keys", status_code=status.HTTP_201_CREATED, responses=responses(UNREADABLE_BODY, NOT_SIGNED_IN)
)
async def create_api_key(body: ApiKeyIn, user: CurrentUser, db: Db) -> NewApiKeyOut:
    """A new personal API key, for `Authorization: Bearer lk-...`; it is shown in this answer only."""
    key = new_api_key()
    row = await db.run(store.add_api_key, user.id, body.name, key_digest(key), key[-4:])
    return NewApiKeyOut.model_validate({**ApiKeyOut.model_validate(row).model_dump(), "key": key})


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(NOT_SIGNED_IN, KEY_NOT_FOUND),
)
async def revoke_api_key(
    key_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)], user: CurrentUser, db: Db
) -> None:
    """Revoke an API key: requests with it are refused from now on."""
    if not await db.run(store.delete_api_key, user.id, key_id):
        raise database.NotFoundError(f"API key {key_id} not found")


@router.post(
    "/admin/transfer",
    responses=responses(UNREADABLE_BODY, NOT_SIGNED_IN, NOT_ADMIN, USER_NOT_FOUND),
)
async def transfer(body: TransferIn, admin: AdminUser, db: Db) -> TransferOut:
    """Hand one user's sessions and files to another (the local user's, once AUTH_MODE=required)."""
    if await db.run(store.get_user, body.to_user_id) is None:
        raise database.NotFoundError(f"User {body.to_user_id} not found")
    try:
        moved = await db.run(store.transfer_data, body.from_user_id, body.to_user_id)
    except IntegrityError:
        raise Conflict(
            f"Users {body.from_user_id} and {body.to_user_id} both have a chat of the same chat_id"
        ) from None
    return TransferOut(sessions_moved=moved)
