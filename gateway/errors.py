"""Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with its status codes.

The OpenAI SDKs pick their exception class from the status alone (`RateLimitError` for 429,
`BadRequestError` for 400 ...), and show `error.message`; every failure of the front door, a
vendor's included, answers in this shape rather than the rest of the API's `{"detail": ...}`.
"""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from models import ApiError

# The error `type` OpenAI gives each status (https://platform.openai.com/docs/guides/error-codes).
TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorOut(BaseModel):
    error: OpenAIErrorDetail


# The statuses the front door answers with, for the routes' OpenAPI `responses=`.
DESCRIPTIONS = {
    400: "An invalid body (the parameter is named), tools for a vendor that cannot take them, "
    "a provider not configured, or the vendor refused the request",
    404: "An unknown model (neither provider/model nor an alias), or an unknown session",
    429: "The vendor's rate limit or quota (every fallback's)",
    502: "The vendor failed, was unreachable or rejected the API key",
    503: "The vendor is overloaded, or the service is shutting down",
    504: "The vendor did not answer in time",
}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorOut, "description": description}
    for status, description in DESCRIPTIONS.items()
}


class GatewayError(ApiError):
    """A request the front door refuses, naming the parameter at fault."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status_code = status
        self.param = param
        self.code = code


def error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    kind = TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(exc: ApiError) -> JSONResponse:
    param = getattr(exc, "param", None)
    code = getattr(exc, "code", None)
    if code is None and exc.status_code == 429:
        code = "rate_limit_exceeded"
    body = error_body(exc.status_code, str(exc), param, code)
    return JSONResponse(body, status_code=exc.status_code, headers=dict(exc.headers))


def invalid_request(exc: RequestValidationError) -> JSONResponse:
    """A body that fails validation: a 400 naming the first parameter at fault, as OpenAI answers."""
    first = exc.errors()[0]
    if first.get("type") == "json_invalid":
        message = "We could not parse the JSON body of your request."
        return JSONResponse(error_body(400, message), status_code=400)
    param = parameter_path(first.get("loc", ()))
    message = f"Invalid value for '{param}': {first.get('msg', 'invalid')}" if param else first.get("msg", "")
    return JSONResponse(error_body(400, message, param or None, "invalid_value"), status_code=400)


def parameter_path(loc: Any) -> str:
    """`("body", "messages", 0, "role")` as OpenAI names a parameter: `messages[0].role`."""
    path = ""
    for part in list(loc)[1:] if loc and loc[0] == "body" else list(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith("function-") and "[" not in str(part):
            path += f".{part}" if path else str(part)
    return path


class OpenAIErrorRoute(APIRoute):
    """A route whose refusals (invalid bodies, ApiErrors) answer in OpenAI's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return invalid_request(exc)
            except ApiError as exc:
                return error_response(exc)
            except HTTPException as exc:  # a body FastAPI could not read at all
                body = error_body(exc.status_code, str(exc.detail))
                return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

        return route
