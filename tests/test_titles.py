"""Automatic titles (TITLE_PROVIDER, TITLE_MODEL): a model names a new session after its first reply.

The fake vendor answers both the chat and the title request; the title comes after the reply has
ended, never before, and a rename made meanwhile is kept.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app_factory import create_app
from provider_registry import UnknownProviderError
from tests.conftest import ChatCall, ServeApp, SettingsFactory, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, text_stream

pytestmark = pytest.mark.timeout(30)

TITLING = {"title_provider": "openai", "title_model": "title-mini"}


@pytest.fixture
async def http(serve: ServeApp, make_settings: SettingsFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(**TITLING)) as client:
        yield client


async def session(http: httpx.AsyncClient, session_id: int) -> dict[str, Any]:
    found: dict[str, Any] = (await http.get(f"/api/v1/sessions/{session_id}")).json()
    return found


async def title_becomes(http: httpx.AsyncClient, session_id: int, expected: str) -> None:
    """Wait (at most 5 s) until the session's title is `expected`."""
    async with asyncio.timeout(5):
        while (await session(http, session_id))["title"] != expected:
            await asyncio.sleep(0.02)


async def until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_new_sessions_title_is_written_by_the_title_model_after_its_first_reply(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    # The title's answer waits: the reply must end, and be read, before it comes.
    vendor.queue(
        Reply(text_stream("Kinkaku-ji ", "and Ginkaku-ji.")),
        Reply(text_stream('"Kyoto ', 'Temple Trip."\nSecond line'), wait=0.5),
    )
    reply = await chat(http, chat_body("deepseek", "Which temples in Kyoto?"))
    assert reply.text == "Kinkaku-ji and Ginkaku-ji."
    session_id = reply.events[0]["session_id"]
    # The reply has ended; the title is still the one the session was made with.
    assert (await session(http, session_id))["title"] == "Which temples in Kyoto?"
    await title_becomes(http, session_id, "Kyoto Temple Trip")
    chat_request, title_request = vendor.requests
    assert title_request.body["model"] == "title-mini"
    system, user = title_request.body["messages"]
    assert system["role"] == "system" and "title" in system["content"]
    assert user["content"] == "User: Which temples in Kyoto?\n\nAssistant: Kinkaku-ji and Ginkaku-ji."
    detail = await session(http, session_id)
    assert [m["content"] for m in detail["messages"]] == [
        "Which temples in Kyoto?",
        "Kinkaku-ji and Ginkaku-ji.",
    ]


async def test_a_rename_before_the_title_arrives_is_kept(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="titles.titler")
    vendor.queue(Reply(text_stream("Sure.")), Reply(text_stream("Model title"), wait=0.5))
    reply = await chat(http, chat_body("deepseek", "Help me pack", stream=False))
    session_id = reply.json["session_id"]
    await until(lambda: len(vendor.requests) == 2)  # the title is being asked for
    renamed = await http.patch(f"/api/v1/sessions/{session_id}", json={"title": "Packing list"})
    assert renamed.status_code == 200
    await until(lambda: any("was renamed before its title came" in r.getMessage() for r in caplog.records))
    assert (await session(http, session_id))["title"] == "Packing list"


async def test_only_a_new_sessions_first_complete_reply_is_titled(
    http: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    # A session made by POST /sessions, and a second turn, ask for no title.
    made = (
        await http.post("/api/v1/sessions", json={"title": "Mine", "provider": "deepseek", "model": "m"})
    ).json()
    await chat(http, chat_body("deepseek", "one", session_id=made["id"], stream=False))
    # A first reply that fails asks for none either.
    vendor.queue(Reply(status=500))
    failed = await chat(http, chat_body("deepseek", "two"))
    assert "error" in failed.events[-2]
    vendor.queue(Reply(text_stream("ok")), Reply(text_stream("Numbers")))
    first = await chat(http, chat_body("deepseek", "three", stream=False))
    session_id = first.json["session_id"]
    await title_becomes(http, session_id, "Numbers")
    await chat(http, chat_body("deepseek", "four", session_id=session_id, stream=False))
    await asyncio.sleep(0.2)  # a title request, were one made, would have reached the vendor by now
    models = [r.body["model"] for r in vendor.requests]
    assert models.count("title-mini") == 1
    assert (await session(http, made["id"]))["title"] == "Mine"
    assert (await session(http, session_id))["title"] == "Numbers"


async def test_titles_are_off_unless_both_settings_are_set(
    serve: ServeApp, make_settings: SettingsFactory, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    async with serve(make_settings(title_provider="openai")) as http:
        reply = await chat(http, chat_body("deepseek", "Hello there", stream=False))
        await asyncio.sleep(0.2)
        assert len(vendor.requests) == 1
        assert (await session(http, reply.json["session_id"]))["title"] == "Hello there"


async def test_an_unknown_title_provider_stops_start_up_naming_the_known_ones(
    make_settings: SettingsFactory,
) -> None:
    app = create_app(make_settings(title_provider="nope", title_model="m"))
    with pytest.raises(UnknownProviderError, match="nope"):
        async with app.router.lifespan_context(app):
            pass
