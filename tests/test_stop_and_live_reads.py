"""Stop as the product's web frontend does it, disconnect policies, and reads of a reply still running.

The tests marked `over_families` run over an OpenAI-compatible vendor and over Ollama's NDJSON.
"""

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServeApp, SettingsFactory, chat_body, stored_row
from tests.fakes.ollama_vendor import FakeOllamaVendor
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream
from tests.families import Family, over_families
from tests.frontend import reread, stream_turn
from tests.sse import start_and_read

pytestmark = pytest.mark.timeout(30)


def paced(count: int, delay: float = 0.05) -> Reply:
    return Reply(text_stream(*(f"w{i} " for i in range(count))), delay=delay)


async def vendor_hung_up(vendor: FakeOpenAIVendor | FakeOllamaVendor) -> None:
    """Every request the vendor received ends with the service closing its connection."""
    async with asyncio.timeout(5):
        while vendor.disconnects < len(vendor.requests):
            await asyncio.sleep(0.02)


@over_families
@pytest.mark.parametrize("stop_after", [0, 1, 6])
async def test_stop_in_the_frontend_stores_exactly_the_text_it_was_sent(
    make_settings: SettingsFactory, serve: ServeApp, family: Family, stop_after: int
) -> None:
    vendor = family.vendor
    family.paced(200)
    settings = make_settings(stream_flush_interval=0.2)
    async with serve(settings) as http:
        turn = await stream_turn(http, family.ask(), stop_after=stop_after)
        assert turn.session_id is not None
        at_once = await reread(http, turn.session_id)
        await vendor_hung_up(vendor)
        await asyncio.sleep(settings.stream_flush_interval * 3)
        later = await reread(http, turn.session_id)
    assert turn.text == "".join(f"w{i} " for i in range(stop_after))
    for seen in (at_once, later):
        assert (seen["status"], seen["finish_reason"]) == ("stopped", "stopped by user")
        assert seen["content"] == turn.text
    assert vendor.completed == 0


async def test_stop_keeps_the_reasoning_the_frontend_was_sent_too(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    thinking = [sse(chunk(reasoning_content=f"r{i} ")) for i in range(3)]
    vendor.queue(Reply([*thinking, *(sse(chunk(f"w{i} ")) for i in range(100))], delay=0.05))
    turn = await stream_turn(client, chat_body(), stop_after=2)
    assert turn.session_id is not None
    seen = await reread(client, turn.session_id)
    assert (seen["status"], seen["content"], seen["thought_process"]) == ("stopped", "w0 w1 ", "r0 r1 r2 ")


@over_families
async def test_a_resumable_client_that_drops_still_gets_its_whole_reply_stored(
    client: httpx.AsyncClient, family: Family
) -> None:
    vendor = family.vendor
    family.paced(20, 0.02)
    head = await start_and_read(client, family.ask(), 4, resumable=True)
    async with asyncio.timeout(10):
        while (seen := await reread(client, head[0]["session_id"]))["status"] == "streaming":
            await asyncio.sleep(0.05)
    assert (seen["status"], seen["content"]) == ("complete", "".join(f"w{i} " for i in range(20)))
    assert vendor.completed == 1


async def test_with_disconnect_policy_continue_a_plain_client_that_drops_does_not_stop_its_reply(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(paced(20, 0.02))
    async with serve(make_settings(disconnect_policy="continue")) as http:
        turn = await stream_turn(http, chat_body(), stop_after=3)
        assert turn.session_id is not None
        async with asyncio.timeout(10):
            while (seen := await reread(http, turn.session_id))["status"] == "streaming":
                await asyncio.sleep(0.05)
    assert (seen["status"], seen["content"]) == ("complete", "".join(f"w{i} " for i in range(20)))


async def test_a_read_while_the_reply_runs_gives_its_live_text_not_the_last_flush(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, tmp_path: Path
) -> None:
    vendor.queue(Reply([sse(chunk("live ", reasoning_content="hm")), sse(chunk("text"))], stall=5))
    async with serve(make_settings(stream_flush_interval=60)) as http:
        head = await start_and_read(http, chat_body(), 5, resumable=True)
        seen = await reread(http, head[0]["session_id"])
        assert (seen["status"], seen["content"], seen["thought_process"]) == ("streaming", "live text", "hm")
        assert stored_row(tmp_path / "chat.db", head[1]["message_id"]) == ("", "streaming")
        await http.post(f"/api/v1/chat/{head[1]['message_id']}/stop")


@over_families
async def test_a_vendor_failure_before_any_text_leaves_the_frontend_its_session_and_the_stored_error(
    client: httpx.AsyncClient, family: Family
) -> None:
    family.failure(500, "upstream exploded")
    turn = await stream_turn(client, family.ask("keep me"))
    failure = f"{family.provider}: upstream exploded"
    assert (turn.status, turn.error) == (200, failure)
    assert turn.session_id is not None
    detail = (await client.get(f"/api/v1/sessions/{turn.session_id}")).json()
    user, reply = detail["messages"]
    assert user["content"] == "keep me"
    assert (reply["status"], reply["error"], reply["content"]) == ("error", failure, "")


async def test_a_reread_that_comes_before_the_stopped_stream_closes_still_reads_as_stopped(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    # A browser re-reads the session on another connection as it aborts the stream, and closes the
    # stream's connection some milliseconds later: the re-read may reach the service first.
    vendor.queue(paced(100, 0.5))
    async with client.stream("POST", "/api/v1/chat", json=chat_body()) as response:
        lines = response.aiter_lines()  # held, so that the connection stays open until the block ends
        session = json.loads((await anext(lines)).removeprefix("data:"))
        while "w0" not in await anext(lines):
            pass
        rereading = asyncio.create_task(reread(client, session["session_id"]))
        await asyncio.sleep(0.05)
    seen = await rereading
    assert (seen["status"], seen["content"]) == ("stopped", "w0 ")
