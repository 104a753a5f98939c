"""Per-client chat limits: requests a minute and replies at once, 429 with Retry-After.

In one process, and shared by two apps through a real Redis server (REDIS_URL), as workers are.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests.conftest import ServeApp, SettingsFactory, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream

pytestmark = pytest.mark.timeout(60)

CHAT = "/api/v1/chat"


def quick(content: str = "hi", **fields: Any) -> dict[str, Any]:
    return chat_body("deepseek", content, stream=False, **fields)


def assert_limited(response: httpx.Response, variable: str, retry_at_most: int) -> None:
    assert response.status_code == 429, response.text
    assert variable in response.json()["detail"]
    assert 1 <= int(response.headers["retry-after"]) <= retry_at_most


async def sessions(http: httpx.AsyncClient) -> int:
    return len((await http.get("/api/v1/sessions")).json())


async def test_chat_requests_over_the_rate_are_429_with_retry_after(
    serve: ServeApp, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        rate_limit_per_minute=3, default_provider="deepseek", default_model="deepseek-chat"
    )
    async with serve(settings) as http:
        for _ in range(2):
            assert (await http.post(CHAT, json=quick())).status_code == 200
        # The simple chat API's turns count against the same limit.
        assert (await http.post("/chat", json={"message": "hi", "chat_id": "c1"})).status_code == 200
        refused = await http.post(CHAT, json=quick("one too many"))
        assert_limited(refused, "RATE_LIMIT_PER_MINUTE", 60)
        assert (
            refused.json()["detail"]
            == "Too many chat requests: the limit is 3 a minute (RATE_LIMIT_PER_MINUTE)"
        )
        assert_limited(await http.post("/chat", json={"message": "hi"}), "RATE_LIMIT_PER_MINUTE", 60)
        # Nothing of a refused turn is stored, and other routes are not limited.
        assert await sessions(http) == 3
        for _ in range(5):
            assert (await http.get("/api/v1/sessions")).status_code == 200


async def start_slow_reply(
    http: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> asyncio.Future[httpx.Response]:
    """A chat turn whose reply runs until the vendor's 1 s stall ends; returns once it is running."""
    seen = len(vendor.requests)
    vendor.queue(Reply([sse(chunk("slow"))], stall=1.0))
    pending = asyncio.ensure_future(http.post(CHAT, json=quick("slow")))
    async with asyncio.timeout(5):
        while len(vendor.requests) == seen:
            await asyncio.sleep(0.01)
    return pending


async def test_replies_at_once_over_the_limit_are_429_until_one_ends(
    serve: ServeApp, make_settings: SettingsFactory, vendor: FakeOpenAIVendor
) -> None:
    async with serve(make_settings(max_concurrent_generations=1)) as http:
        # A turn refused before its reply starts (an unknown provider) keeps no slot.
        refused = await http.post(CHAT, json={**quick(), "provider": "nope"})
        assert refused.status_code == 400
        running = await start_slow_reply(http, vendor)
        second = await http.post(CHAT, json=quick("meanwhile"))
        assert_limited(second, "MAX_CONCURRENT_GENERATIONS", 1)
        assert second.json()["detail"].startswith("Too many replies at once: the limit is 1")
        assert (await running).status_code == 200
        vendor.queue(Reply(text_stream("ok")))
        after = await http.post(CHAT, json=quick("after"))
        assert after.status_code == 200, after.text


async def test_a_stopped_reply_gives_its_slot_back(
    serve: ServeApp, make_settings: SettingsFactory, vendor: FakeOpenAIVendor
) -> None:
    async with serve(make_settings(max_concurrent_generations=1)) as http:
        vendor.queue(Reply([sse(chunk("slow"))], stall=5.0))
        async with http.stream("POST", CHAT, json=chat_body("deepseek", "long")) as stream:
            lines = stream.aiter_lines()
            async with asyncio.timeout(5):
                while "message_id" not in (line := await anext(lines)):
                    pass
                while not vendor.requests:  # the reply is running
                    await asyncio.sleep(0.01)
            message_id = int(line.split('"message_id":')[1].strip(" }"))
            stopped = await http.post(f"{CHAT}/{message_id}/stop")
            assert (stopped.status_code, stopped.json()["status"]) == (200, "stopped")
        answer = await http.post(CHAT, json=quick("next"))
        assert answer.status_code == 200, answer.text


@pytest.fixture
async def two_workers(
    serve: ServeApp, make_settings: SettingsFactory, redis_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two apps sharing one database and one Redis, with both limits set."""
    settings = make_settings(redis_url=redis_url, rate_limit_per_minute=4, max_concurrent_generations=1)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(serve(settings))
        second = await stack.enter_async_context(serve(settings))
        yield first, second


async def test_limits_are_shared_by_workers_through_redis(
    two_workers: tuple[httpx.AsyncClient, httpx.AsyncClient], vendor: FakeOpenAIVendor
) -> None:
    first, second = two_workers
    running = await start_slow_reply(first, vendor)
    assert_limited(await second.post(CHAT, json=quick("meanwhile")), "MAX_CONCURRENT_GENERATIONS", 1)
    assert (await running).status_code == 200
    assert (await second.post(CHAT, json=quick("two"))).status_code == 200
    # Four requests were made in the minute, the one refused for the replies at once included.
    assert (await first.post(CHAT, json=quick("three"))).status_code == 200
    assert_limited(await second.post(CHAT, json=quick("four")), "RATE_LIMIT_PER_MINUTE", 60)
    assert_limited(await first.post(CHAT, json=quick("five")), "RATE_LIMIT_PER_MINUTE", 60)
