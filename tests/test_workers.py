"""Two worker processes sharing one database and one Redis: resume and stop work on either."""

import asyncio
import json

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream
from tests.frontend import reread, stream_turn
from tests.service_process import ServiceProcess
from tests.sse import start_and_read

BODY = {"provider": "deepseek", "model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}


async def test_a_reply_resumes_on_another_worker_and_starting_it_does_not_interrupt_the_first(
    workers: tuple[ServiceProcess, ServiceProcess], vendor: FakeOpenAIVendor
) -> None:
    first, second = workers
    vendor.queue(Reply(text_stream(*(f"w{i} " for i in range(60))), delay=0.03))
    head = await start_and_read(first.url, BODY, 6)
    second.start()  # its start-up recovery must leave the running reply alone
    message_id = head[1]["message_id"]
    async with httpx.AsyncClient(base_url=second.url, timeout=10) as client, asyncio.timeout(15):
        url = f"/api/v1/chat/{message_id}/stream"
        async with aconnect_sse(client, "GET", url, headers={"Last-Event-ID": "6"}) as source:
            tail = [(event.id, json.loads(event.data)) async for event in source.aiter_sse()]
    assert tail[0][0] == "7"
    text = "".join(e.get("content", "") for e in head + [event for _, event in tail])
    assert text == "".join(f"w{i} " for i in range(60))
    assert tail[-1][1] == {"done": True}
    async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
        detail = (await client.get(f"/api/v1/sessions/{head[0]['session_id']}")).json()
    assert (detail["messages"][-1]["status"], detail["messages"][-1]["content"]) == ("complete", text)


async def test_a_stop_sent_to_another_worker_stops_the_generation(
    workers: tuple[ServiceProcess, ServiceProcess], vendor: FakeOpenAIVendor
) -> None:
    first, second = workers
    second.start()
    vendor.queue(Reply(text_stream(*(f"w{i} " for i in range(1000))), delay=0.02))
    head = await start_and_read(first.url, BODY, 5)
    async with httpx.AsyncClient(base_url=second.url, timeout=15) as client:
        response = await client.post(f"/api/v1/chat/{head[1]['message_id']}/stop")
    assert response.status_code == 200
    assert response.json()["status"] == "stopped"
    assert response.json()["content"].startswith("w0 w1 w2 ")
    async with asyncio.timeout(5):
        while vendor.disconnects == 0:
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("workers", [{"STREAM_FLUSH_INTERVAL": "60"}], indirect=True)
async def test_a_read_on_another_worker_gives_the_live_text_of_a_running_reply(
    workers: tuple[ServiceProcess, ServiceProcess], vendor: FakeOpenAIVendor
) -> None:
    first, second = workers
    second.start()
    vendor.queue(Reply([sse(chunk("live ", reasoning_content="hm")), sse(chunk("text"))], stall=10))
    head = await start_and_read(first.url, BODY, 5)
    async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:
        seen = await reread(client, head[0]["session_id"])
        assert (seen["status"], seen["content"], seen["thought_process"]) == ("streaming", "live text", "hm")
        await client.post(f"/api/v1/chat/{head[1]['message_id']}/stop")


async def test_a_frontend_stop_on_one_worker_reads_as_stopped_on_the_other_at_once(
    workers: tuple[ServiceProcess, ServiceProcess], vendor: FakeOpenAIVendor
) -> None:
    first, second = workers
    second.start()
    vendor.queue(Reply(text_stream(*(f"w{i} " for i in range(500))), delay=0.05))
    async with httpx.AsyncClient(base_url=first.url, timeout=10) as on_first:
        turn = await stream_turn(on_first, BODY, stop_after=4)
    assert turn.session_id is not None
    async with httpx.AsyncClient(base_url=second.url, timeout=10) as on_second:
        seen = await reread(on_second, turn.session_id)
    assert (seen["status"], seen["content"]) == ("stopped", "w0 w1 w2 w3 ")
