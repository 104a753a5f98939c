"""One exception tree for every vendor failure, mapped once to HTTP and to SSE error events.

    ProviderError                  502  (base; carries the provider id and the vendor's own reason)
    ├── ProviderAuthError          502  the vendor rejected the API key (401/403)
    ├── ProviderRateLimited        429  the vendor's rate limit or quota (429)
    ├── ProviderBadRequest         400  the vendor refused the request as invalid (400/404/413/422),
    │                                   or it cannot be sent as it is (a model id no URL can hold)
    │   ├── ProviderBlocked        400  the vendor's safety filter blocked the prompt or the reply
    │   └── ProviderModelMissing   404  the vendor does not have the model (an Ollama model not pulled)
    ├── ProviderUnavailable        502  vendor 5xx, unreachable, or a broken stream
    │   └── ProviderOverloaded     503  the vendor says it is overloaded (Anthropic's 529)
    └── ProviderTimeout            504  no answer within the time allowed

Configuration problems found before any vendor is called live beside them:

    RegistryError                  400
    ├── UnknownProviderError       400  lists the known ids
    └── ProviderNotConfiguredError 400  names the variable to set
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import aiohttp
import anthropic
import httpx2
import openai
from google.genai import errors as genai_errors

from models import ApiError
from providers.sse import EventTooLarge


class ProviderError(ApiError):
    """A vendor call failed; `str(error)` is `"<provider>: <reason>"`."""

    status_code = 502

    def __init__(self, provider: str, message: str, *, vendor_status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.vendor_status = vendor_status

    def extra(self) -> dict[str, Any]:
        return {"provider": self.provider}


class ProviderAuthError(ProviderError):
    status_code = 502


class ProviderRateLimited(ProviderError):
    status_code = 429


class ProviderBadRequest(ProviderError):
    status_code = 400


class ProviderBlocked(ProviderBadRequest):
    """The vendor refused to answer this content (safety, recitation); retrying will not help."""


class ProviderModelMissing(ProviderBadRequest):
    """The vendor has no such model here (an Ollama server that has not pulled it)."""

    status_code = 404


class ProviderUnavailable(ProviderError):
    status_code = 502


class ProviderOverloaded(ProviderUnavailable):
    """The vendor is up but turns requests away for now; retrying later may work."""

    status_code = 503


class ProviderTimeout(ProviderError):
    status_code = 504


class RegistryError(ApiError):
    status_code = 400


class UnknownProviderError(RegistryError):
    def __init__(self, provider: str, known: list[str]) -> None:
        super().__init__(f"Unknown provider '{provider}'. Known providers: {', '.join(known)}")


class ProviderNotConfiguredError(RegistryError):
    def __init__(self, provider: str, remedy: str) -> None:
        """`remedy` says what configures it: "set the X environment variable"."""
        super().__init__(f"Provider '{provider}' is not configured: {remedy}")


_STATUS_CLASSES: dict[int, type[ProviderError]] = {
    400: ProviderBadRequest,
    401: ProviderAuthError,
    402: ProviderRateLimited,
    403: ProviderAuthError,
    404: ProviderBadRequest,
    408: ProviderTimeout,
    413: ProviderBadRequest,
    422: ProviderBadRequest,
    429: ProviderRateLimited,
    529: ProviderOverloaded,  # Anthropic's overloaded_error
}


def error_for_status(provider: str, status: int, message: str) -> ProviderError:
    """Pick the most specific class for a vendor HTTP status."""
    if status in (401, 403):
        message = f"the vendor rejected the API key ({status}): {message}"
    cls = _STATUS_CLASSES.get(status, ProviderUnavailable)
    return cls(provider, message, vendor_status=status)


def vendor_message(body: Any, fallback: str) -> str:
    """Dig the human-readable reason out of the many vendor error body shapes."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message = inner.get("message", inner.get("detail"))
            if isinstance(message, dict) and isinstance(message.get("detail"), list):
                message = message["detail"]  # Mistral's 422: {"message": {"detail": [...]}}
            if isinstance(message, list):
                message = "; ".join(_validation_detail(item) for item in message)
            if message:
                return message if isinstance(message, str) else str(message)
        elif isinstance(inner, str):
            return inner
    return fallback


def _validation_detail(item: Any) -> str:
    """One pydantic-style validation detail as `body.field: what is wrong`."""
    if isinstance(item, dict) and "msg" in item:
        where = ".".join(str(part) for part in item.get("loc") or ())
        return f"{where}: {item['msg']}" if where else str(item["msg"])
    return str(item)


@contextmanager
def map_openai_errors(provider: str) -> Iterator[None]:
    """Turn the openai SDK's exceptions into the ProviderError tree, keeping the vendor's reason."""
    with _map_stainless_errors(provider, openai):
        yield


@contextmanager
def map_anthropic_errors(provider: str) -> Iterator[None]:
    """Turn the anthropic SDK's exceptions into the ProviderError tree, keeping the vendor's reason.

    Its error body is `{"type": "error", "error": {"type": ..., "message": ...}}`; 529 is
    `overloaded_error` (https://platform.claude.com/docs/en/api/errors).
    """
    with _map_stainless_errors(provider, anthropic):
        yield


@contextmanager
def _map_stainless_errors(provider: str, sdk: ModuleType) -> Iterator[None]:
    """The mapping both Stainless-generated SDKs (openai, anthropic) take: their error classes match."""
    try:
        yield
    except sdk.APITimeoutError as exc:
        if ran_out_of_time(exc):
            raise ProviderTimeout(provider, "the vendor did not answer in time") from exc
        raise ProviderUnavailable(provider, f"could not reach the vendor: {exc.__cause__}") from exc
    except sdk.APIConnectionError as exc:
        reason = str(exc.__cause__ or exc)
        raise ProviderUnavailable(provider, f"could not reach the vendor: {reason}") from exc
    except sdk.APIStatusError as exc:
        message = vendor_message(exc.body, exc.message)
        raise error_for_status(provider, exc.status_code, message) from exc
    except sdk.APIError as exc:
        # An error object inside a 200 stream (OpenRouter's mid-stream form).
        raise ProviderUnavailable(provider, vendor_message(exc.body, exc.message)) from exc
    except json.JSONDecodeError as exc:
        # A `data:` line or a body that is not JSON: the SDK lets the decoder's error through.
        raise ProviderUnavailable(provider, f"unreadable reply from the vendor: {exc}") from exc
    except EventTooLarge as exc:
        raise ProviderUnavailable(provider, str(exc)) from exc
    except httpx2.TransportError as exc:
        # The stream's body is read by httpx2 directly, past the SDK's own wrapping.
        raise transport_failure(provider, exc) from exc


@contextmanager
def map_genai_errors(provider: str) -> Iterator[None]:
    """Turn google-genai's exceptions into the ProviderError tree, keeping the vendor's reason.

    The SDK raises `errors.APIError` (ClientError 4xx, ServerError 5xx) for error bodies, also those
    sent inside a stream, and lets httpx2's transport errors through unwrapped.
    https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes
    """
    try:
        yield
    except genai_errors.APIError as exc:
        status = exc.code if isinstance(exc.code, int) else 502
        message = exc.message if isinstance(exc.message, str) and exc.message else str(exc)
        raise error_for_status(provider, status, message) from exc
    except genai_errors.UnknownApiResponseError as exc:
        raise ProviderUnavailable(provider, f"unreadable reply from the vendor: {exc}") from exc
    except httpx2.InvalidURL as exc:
        # The model id is part of the request's URL path; a control character in it makes no URL.
        raise ProviderBadRequest(provider, f"the request cannot be sent: {exc}") from exc
    except EventTooLarge as exc:
        raise ProviderUnavailable(provider, str(exc)) from exc
    except httpx2.TransportError as exc:
        raise transport_failure(provider, exc) from exc


@contextmanager
def map_httpx2_errors(provider: str) -> Iterator[None]:
    """Turn failures of a raw httpx2 call (no SDK in between) into the ProviderError tree.

    Transport failures, a body that is no JSON, a line or body past its bound. Status codes are
    the caller's to judge: a 403 from a download URL is not a rejected API key.
    """
    try:
        yield
    except json.JSONDecodeError as exc:  # orjson's error derives from it
        raise ProviderUnavailable(provider, f"unreadable reply from the vendor: {exc}") from exc
    except EventTooLarge as exc:
        raise ProviderUnavailable(provider, str(exc)) from exc
    except httpx2.TransportError as exc:
        raise transport_failure(provider, exc) from exc


def transport_failure(provider: str, exc: httpx2.TransportError) -> ProviderError:
    """A timeout if time ran out; otherwise the connection failed, and the reason says how."""
    if isinstance(exc, httpx2.TimeoutException) and ran_out_of_time(exc):
        return ProviderTimeout(provider, "the vendor did not answer in time")
    if isinstance(_aiohttp_error(exc), aiohttp.ClientPayloadError):
        # Its own text names aiohttp's parser state ("<TransferEncodingError: 400, ...>"), which
        # reads like an HTTP status the vendor never sent.
        reason = "the reply was cut off before its end"
    else:
        reason = str(exc) or type(exc).__name__
    return ProviderUnavailable(provider, f"the connection to the vendor failed: {reason}")


def ran_out_of_time(exc: BaseException) -> bool:
    """Whether a timeout error from the HTTP stack means that time ran out.

    The aiohttp transport reports every failed connection as httpx2.ConnectTimeout: refused, an
    unknown host, a vendor that hung up before answering. The aiohttp error under it is a
    TimeoutError only when a time limit was reached.
    """
    underlying = _aiohttp_error(exc)
    return underlying is None or isinstance(underlying, TimeoutError)


def _aiohttp_error(exc: BaseException) -> aiohttp.ClientError | None:
    """The aiohttp error an httpx2 error (or the SDK's, around that) was raised from, if any."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, aiohttp.ClientError):
            return cause
        cause = cause.__cause__
    return None
