"""A streamed request's first attempt, sent without the SDK's request building (providers/stream_start.py).

The vendor must get what the SDK would have sent it, and a failure must end as the SDK would end
it: its retries, its exceptions. Each test sends once the SDK's way (`client.post`) and once ours,
to the same fake vendor, and compares what arrived.
"""

from typing import Any

import httpx2
import openai
import pytest

from providers.anthropic import AnthropicProvider
from providers.base import PooledProvider, ProviderSettings
from providers.errors import ProviderUnavailable, map_anthropic_errors
from providers.openrouter import OpenRouterProvider
from providers.stream_start import post_stream
from tests.fakes.anthropic_vendor import FakeAnthropicVendor
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, text_stream

# Differ between two requests by design: how many retries came before, the timeouts the SDK
# announces (ours has no read timeout: the watchdogs pace a stream), and the body's length.
PER_REQUEST = {"x-stainless-retry-count", "x-stainless-read-timeout", "x-stainless-timeout", "content-length"}
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def settings(url: str, *, retries: int = 0, **extras: Any) -> ProviderSettings:
    return ProviderSettings(
        api_key="sk-test",
        base_url=url,
        timeout=10,
        max_retries=retries,
        max_generation_seconds=60,
        proxy=None,
        max_connections=4,
        extras=extras,
    )


def openrouter(url: str, retries: int = 0) -> OpenRouterProvider:
    return OpenRouterProvider(
        settings(url, retries=retries, openrouter_http_referer="https://app.test", openrouter_x_title="App")
    )


async def sdk_post(provider: PooledProvider[Any], path: str) -> None:
    response = await provider.client.post(path, cast_to=httpx2.Response, body=BODY, stream=True)
    await response.aread()
    await response.aclose()


async def our_post(provider: PooledProvider[Any], path: str) -> httpx2.Response:
    response = await post_stream(provider.client, path, BODY, provider.id, 10)
    await response.aread()
    await response.aclose()
    return response


def shared(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in PER_REQUEST}


async def test_an_openai_compatible_vendor_gets_the_request_the_sdk_would_send(
    vendor: FakeOpenAIVendor,
) -> None:
    vendor.queue(Reply(text_stream("a")), Reply(text_stream("b")))
    provider = openrouter(vendor.url)
    try:
        await sdk_post(provider, "/chat/completions")
        await our_post(provider, "/chat/completions")
    finally:
        await provider.aclose()
    theirs, ours = vendor.requests
    assert ours.path == theirs.path == "/v1/chat/completions"
    assert ours.body == theirs.body == BODY
    assert shared(ours.headers) == shared(theirs.headers)
    # The key, the SDK's identity and the provider's own headers are all there.
    assert ours.headers["authorization"] == "Bearer sk-test"
    assert ours.headers["user-agent"].startswith("AsyncOpenAI/Python")
    assert (ours.headers["http-referer"], ours.headers["x-title"]) == ("https://app.test", "App")


async def test_anthropic_gets_the_request_its_sdk_would_send(claude: FakeAnthropicVendor) -> None:
    provider = AnthropicProvider(settings(claude.url, anthropic_max_tokens=1024))
    try:
        await sdk_post(provider, "/v1/messages")
        await our_post(provider, "/v1/messages")
    finally:
        await provider.aclose()
    theirs, ours = claude.requests
    assert ours.path == theirs.path == "/v1/messages"
    assert ours.body == theirs.body == BODY
    assert shared(ours.headers) == shared(theirs.headers)
    assert ours.api_key == "sk-test"
    assert "anthropic-version" in ours.headers


async def test_an_error_status_is_the_sdks_own_error_with_the_vendors_reason(
    vendor: FakeOpenAIVendor,
) -> None:
    vendor.queue(Reply(status=400, error={"error": {"message": "model 'm' does not exist"}}))
    provider = openrouter(vendor.url, retries=2)
    try:
        with pytest.raises(openai.BadRequestError) as raised:
            await our_post(provider, "/chat/completions")
    finally:
        await provider.aclose()
    assert raised.value.status_code == 400
    assert "model 'm' does not exist" in raised.value.message
    assert len(vendor.requests) == 1  # a 400 is not retried


async def test_a_retryable_status_is_retried_by_the_sdk_after_the_wait_asked_for(
    vendor: FakeOpenAIVendor,
) -> None:
    busy = {"error": {"message": "rate limited"}}
    vendor.queue(
        Reply(status=429, error=busy, headers={"retry-after-ms": "10"}),
        Reply(status=429, error=busy, headers={"retry-after-ms": "10"}),
        Reply(text_stream("third", " try")),
    )
    provider = openrouter(vendor.url, retries=2)
    try:
        response = await our_post(provider, "/chat/completions")
    finally:
        await provider.aclose()
    assert response.status_code == 200
    assert b"third" in response.content
    # Our first attempt, then the SDK's two retries: PROVIDER_MAX_RETRIES=2 in all.
    assert [r.headers.get("x-stainless-retry-count") for r in vendor.requests] == [None, "0", "1"]


async def test_retries_spent_end_in_the_sdks_error(vendor: FakeOpenAIVendor) -> None:
    busy = Reply(status=503, error={"error": {"message": "overloaded"}}, headers={"retry-after-ms": "10"})
    vendor.queue(busy, busy)
    provider = openrouter(vendor.url, retries=1)
    try:
        with pytest.raises(openai.InternalServerError) as raised:
            await our_post(provider, "/chat/completions")
    finally:
        await provider.aclose()
    assert len(vendor.requests) == 2
    assert "overloaded" in raised.value.message


async def test_a_refused_connection_without_retries_is_the_sdks_connection_error() -> None:
    # Port 9 (discard) on loopback: nothing listens there in a test run.
    provider = openrouter("http://127.0.0.1:9/v1")
    try:
        with pytest.raises(openai.APIConnectionError):
            await our_post(provider, "/chat/completions")
    finally:
        await provider.aclose()


async def test_a_refused_connection_with_retries_ends_as_one_failure_after_them() -> None:
    provider = AnthropicProvider(settings("http://127.0.0.1:9", retries=1, anthropic_max_tokens=1024))
    try:
        with pytest.raises(ProviderUnavailable) as raised, map_anthropic_errors("anthropic"):
            await our_post(provider, "/v1/messages")
    finally:
        await provider.aclose()
    # What the caller sees, as when the SDK made every attempt: the vendor, and that it was unreachable.
    assert str(raised.value).startswith("anthropic: could not reach the vendor")
