"""Who a request comes from: one dependency for HTTP routes, one function for any other door.

`AUTH_MODE=off` answers the local user at once, without reading any header. `required` takes
`Authorization: Bearer <access JWT>` or `Bearer lk-<API key>`, and refuses anything else with a
401 that carries `WWW-Authenticate`. A WebSocket route calls `user_from_token` with the token it
was given (query parameter or first message).
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from auth.api_keys import is_api_key, key_digest
from auth.errors import Forbidden, Unauthorized
from auth.service import AuthService
from auth.store import api_key_user
from database import LOCAL_USER_ID


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str | None = None
    is_admin: bool = False


# AUTH_MODE=off: whoever reaches the port runs the service, as before accounts existed.
LOCAL_USER = User(LOCAL_USER_ID, None, is_admin=True)


async def user_from_token(token: str | None, auth: AuthService) -> User:
    """The user a bearer token (JWT or `lk-` key) stands for; raises Unauthorized (401)."""
    if auth.off:
        return LOCAL_USER
    if not token:
        raise Unauthorized("Sign in: this route needs `Authorization: Bearer <token or lk- API key>`")
    if is_api_key(token):
        keyed = await auth.db.run_core(api_key_user, key_digest(token))
        if keyed is None:
            raise Unauthorized("The API key is not valid (revoked, or never issued)")
        return User(keyed.id, keyed.email, keyed.is_admin)
    claims = auth.tokens.decode(token, "access")
    signed_in = await auth.open_login(claims.login_id, claims.user_id)
    return User(signed_in.id, signed_in.email, signed_in.is_admin)


def bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def get_auth(request: Request) -> AuthService:
    auth: AuthService = request.app.state.auth
    return auth


async def current_user(request: Request) -> User:
    auth: AuthService = request.app.state.auth
    if auth.off:
        return LOCAL_USER
    return await user_from_token(bearer_token(request.headers.get("authorization")), auth)


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise Forbidden("Only an admin may do this")
    return user


Auth = Annotated[AuthService, Depends(get_auth)]
CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
