"""Starting a streamed vendor request through a Stainless-generated SDK client (openai, anthropic).

`post_stream` sends the first attempt itself, through the SDK client's own httpx2 client with the
SDK client's own URL and headers (auth included), and hands every retry to the SDK. Building a
request through the SDK's generic machinery (options models, URL and header merges, each on
every call) took about 0.3 ms of the 0.6 ms a request took to its first byte, on the path of
every chat turn's first token (docs/benchmarks.md); the request sent is the same.

What a vendor answers is what the SDK would have made of it: an error status is the SDK's own
exception (raised by the SDK client from the response), a retryable failure is retried by the
SDK as often as PROVIDER_MAX_RETRIES has left, after the wait the vendor asked for.
"""

import asyncio
import email.utils
import random
import ssl
import time
import weakref
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import openai
import orjson

from providers.errors import ProviderTimeout

StainlessClient = openai.AsyncOpenAI | anthropic.AsyncAnthropic

# The SDKs' own bounds: a Retry-After beyond two minutes is not waited for (no retry), and
# without one the first retry waits half a second, less up to a quarter.
MAX_RETRY_AFTER = 120.0
FIRST_RETRY_DELAY = 0.5


@dataclass(frozen=True, slots=True)
class RequestTemplate:
    """What every request of one SDK client carries: its base URL and its default headers."""

    base_url: str
    headers: httpx2.Headers  # copied by each request
    urls: dict[str, httpx2.URL]  # by path: parsing one is a third of building a request

    @classmethod
    def of(cls, client: StainlessClient) -> "RequestTemplate":
        # Merged as the SDK and httpx2 merge them: the HTTP client's own, the auth headers, then the
        # SDK's user agent and platform headers with the provider's (default_headers=...), where an
        # Omit is a header left out.
        sdk = {**client.auth_headers, **client.default_headers}
        headers = client._client.headers.copy()
        headers.update({k: v for k, v in sdk.items() if isinstance(v, str)})
        for name in (k for k, v in sdk.items() if not isinstance(v, str)):
            headers.pop(name, None)
        # An SDK keeps its base URL's path ending in "/"; a bare host prints without it.
        return cls(str(client.base_url).rstrip("/") + "/", headers, {})

    def request(self, path: str, body: Any, limit: float) -> httpx2.Request:
        url = self.urls.get(path)
        if url is None:
            url = self.urls[path] = httpx2.URL(self.base_url + path.lstrip("/"))
        return httpx2.Request(
            "POST",
            url,
            headers=self.headers,
            content=orjson.dumps(body),
            extensions={"timeout": httpx2.Timeout(limit, read=None).as_dict()},
        )


_templates: weakref.WeakKeyDictionary[StainlessClient, RequestTemplate] = weakref.WeakKeyDictionary()


def template_for(client: StainlessClient) -> RequestTemplate:
    template = _templates.get(client)
    if template is None:
        template = _templates[client] = RequestTemplate.of(client)
    return template


async def post_stream(
    client: StainlessClient, path: str, body: Any, provider: str, limit: float
) -> httpx2.Response:
    """POST `body` as JSON; return once the answer has begun, body unread.

    The caller builds the body and reads the stream as plain JSON, because the SDKs' typed-parameter
    transform and event models cost more CPU than the rest of a relayed reply; the caller maps the
    SDK's exceptions (providers/errors.py). `limit` (PROVIDER_TIMEOUT) bounds reaching the vendor
    and the start of its answer, retries included. From then on the stream's pace is the
    watchdogs' (FIRST_TOKEN_TIMEOUT, then STREAM_IDLE_TIMEOUT): a reasoning model may think in
    silence for longer than a request may take to start, and a body read that arms no timer
    costs each relayed chunk less.
    """
    try:
        async with asyncio.timeout(limit):
            first = await _first_attempt(client, path, body, limit)
            if isinstance(first, httpx2.Response):
                return first
            await asyncio.sleep(first)
            # The retries left are the SDK's, with its own back-off between them.
            retrying = client.with_options(max_retries=client.max_retries - 1)
            response: httpx2.Response = await retrying.post(
                path,
                cast_to=httpx2.Response,
                body=body,
                stream=True,
                stream_cls=None,
                options={"timeout": httpx2.Timeout(limit, read=None)},
            )
            return response
    except TimeoutError as exc:
        raise ProviderTimeout(provider, "the vendor did not answer in time") from exc


async def _first_attempt(
    client: StainlessClient, path: str, body: Any, limit: float
) -> httpx2.Response | float:
    """The answer, once begun; or, when the SDK would retry this failure, the seconds to wait first.

    Raises what the SDK raises for a failure it would not retry.
    """
    sdk = openai if isinstance(client, openai.AsyncOpenAI) else anthropic
    request = template_for(client).request(path, body, limit)
    retries = client.max_retries > 0
    try:
        # The SDK client's own httpx2 client: its pool, its transport, its event hooks.
        response = await client._client.send(request, stream=True)
    except httpx2.TimeoutException as exc:
        if retries:
            return _retry_wait(None)
        raise sdk.APITimeoutError(request=request) from exc
    except (httpx2.RequestError, ssl.SSLError) as exc:
        if retries:
            return _retry_wait(None)
        raise sdk.APIConnectionError(request=request) from exc
    if response.is_success:
        return response
    if retries and client._should_retry(response):
        await response.aclose()
        return _retry_wait(response.headers)
    await response.aread()
    raise client._make_status_error_from_response(response)


def _retry_wait(headers: httpx2.Headers | None) -> float:
    """How long the SDK waits before its first retry: what the vendor asked for, else its back-off."""
    asked = _retry_after(headers) if headers is not None else None
    if asked is not None and 0 < asked <= MAX_RETRY_AFTER:
        return asked
    return FIRST_RETRY_DELAY * (1 - 0.25 * random.random())


def _retry_after(headers: httpx2.Headers) -> float | None:
    """`retry-after-ms`, else `retry-after` in seconds or as an HTTP date; None without either."""
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else email.utils.mktime_tz(parsed) - time.time()
