"""xAI Grok wire quirks: `reasoning_content`, chunks without finish_reason keys, usage extras."""

import httpx
import pytest

from tests.conftest import ChatCall, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, wire

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("stream", [True, False])
async def test_a_recorded_grok_stream_gives_reasoning_text_and_usage_with_its_extras(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, stream: bool
) -> None:
    vendor.queue(Reply([wire("xai-grok-reasoning.sse")]))
    reply = await chat(client, chat_body("grok", "hi", stream=stream))
    assert reply.status == 200
    if stream:
        assert (reply.reasoning, reply.text) == ("First, the user says hi.", "Hello! How can I help?")
    session_id = reply.events[0]["session_id"] if stream else reply.json["session_id"]
    stored = (await client.get(f"/api/v1/sessions/{session_id}")).json()["messages"][-1]
    assert (stored["content"], stored["thought_process"]) == (
        "Hello! How can I help?",
        "First, the user says hi.",
    )
    assert (stored["finish_reason"], stored["status"]) == ("stop", "complete")
    assert stored["usage"]["total_tokens"] == 310
    assert stored["usage"]["cost_in_usd_ticks"] == 1466250
