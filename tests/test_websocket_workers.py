"""WebSocket streams with two workers sharing one database and one Redis: resume and abort on either."""

import asyncio

import httpx
import pytest

from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, text_stream
from tests.service_process import ServiceProcess
from tests.ws import new_session, opened, tokens

pytestmark = pytest.mark.timeout(60)


async def test_a_reply_on_one_worker_resumes_on_a_socket_of_another_and_stops_from_there(
    workers: tuple[ServiceProcess, ServiceProcess],
    vendor: FakeOpenAIVendor,
) -> None:
    first, second = workers
    second.start()
    vendor.queue(Reply(text_stream(*(f"w{i} " for i in range(1000))), delay=0.02))
    async with (
        httpx.AsyncClient(base_url=first.url, timeout=10) as on_first,
        httpx.AsyncClient(base_url=second.url, timeout=10) as on_second,
    ):
        session_id = await new_session(on_first)
        async with opened(on_first, session_id) as socket:
            await socket.send({"type": "stream_message", "content": "count"})
            head = [await socket.receive() for _ in range(4)]
            reply_id, last = head[0]["message_id"], head[-1]["event"]
            async with opened(on_second, session_id) as elsewhere:
                await elsewhere.send({"type": "resume", "message_id": reply_id, "last_event": last})
                followed = [await elsewhere.receive() for _ in range(3)]
                assert followed[0]["event"] > last
                # Stopped from the second worker, which does not run it: through Redis.
                stopped = await on_second.post(f"/stream/{reply_id}/abort")
                assert stopped.status_code == 200
                assert stopped.json()["status"] == "stopped"
                there = await elsewhere.until("stream_complete", reply_id)
            here = await socket.until("stream_complete", reply_id)
    assert (here[-1]["status"], there[-1]["status"]) == ("stopped", "stopped")
    assert here[-1]["content"] == there[-1]["content"] == stopped.json()["content"]
    assert (tokens(head) + tokens(followed + there)).startswith("w0 w1 w2 w3 ")
    async with asyncio.timeout(5):
        while vendor.disconnects == 0:
            await asyncio.sleep(0.02)
