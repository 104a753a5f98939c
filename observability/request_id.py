"""The request id: taken from the client's `X-Request-Id` or made, logged, and sent to the vendor.

It lives in a contextvar set for the request; a generation's task is created inside the request,
so it inherits the id, and so do its log lines and its vendor call.
"""

import re
import uuid
from contextvars import ContextVar

import httpx2
from opentelemetry import propagate
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-Id"
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# A client's own id is kept when it is a plain token; anything else could forge log lines.
_ACCEPTED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"x-request-id":
            given = value.decode("latin-1")
            if _ACCEPTED.match(given):
                return given
    return uuid.uuid4().hex


async def send_request_id(request: httpx2.Request) -> None:
    """httpx2 request hook of the vendor clients: the vendor's logs can be matched with ours.

    The trace context (`traceparent`) goes along when a span is current (observability/tracing.py).
    """
    current = REQUEST_ID.get()
    if current is not None:
        request.headers[HEADER] = current
    propagate.inject(request.headers)


class RequestIdMiddleware:
    """Sets REQUEST_ID for each HTTP request and answers it in the `X-Request-Id` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        current = request_id_from(scope["headers"])
        token = REQUEST_ID.set(current)

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", current.encode())]
            await send(message)

        try:
            await self.app(scope, receive, with_header)
        finally:
            REQUEST_ID.reset(token)
