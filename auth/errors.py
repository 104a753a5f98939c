"""The refusals of the auth routes and of the credential check, each with its HTTP status."""

from collections.abc import Mapping

from models import ApiError


class Unauthorized(ApiError):
    """No credential, or one that is tampered with, expired or revoked."""

    status_code = 401
    headers: Mapping[str, str] = {"WWW-Authenticate": 'Bearer realm="api"'}


class Forbidden(ApiError):
    status_code = 403


class Conflict(ApiError):
    status_code = 409


class EmailTaken(Conflict):
    pass


class TooManyAttempts(ApiError):
    """Too many failed sign-ins for an account or from an address; `Retry-After` says when to try again."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed sign-ins; try again in {retry_after} seconds")
        self.headers = {"Retry-After": str(retry_after)}


class NoVendorKey(ApiError):
    """The caller has no key of their own for a provider, and may not use the operator's."""

    status_code = 400
