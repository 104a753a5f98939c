"""Cerebras wire quirks: `delta.reasoning`, usage and `time_info` on the finish chunk."""

import httpx
import pytest

from tests.conftest import ChatCall, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, wire

pytestmark = pytest.mark.timeout(30)


async def test_a_recorded_cerebras_stream_gives_reasoning_text_and_usage(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    vendor.queue(Reply([wire("cerebras-reasoning.sse")]))
    reply = await chat(client, chat_body("cerebras", model="zai-glm-4.7"))
    assert reply.status == 200
    assert (reply.reasoning, reply.text) == ("The user wants a greeting.", "Hello!")
    stored = (await client.get(f"/api/v1/sessions/{reply.events[0]['session_id']}")).json()["messages"][-1]
    assert (stored["content"], stored["thought_process"]) == ("Hello!", "The user wants a greeting.")
    assert stored["usage"]["total_tokens"] == 43
    assert stored["usage"]["completion_tokens_details"]["reasoning_tokens"] == 7


async def test_cerebras_reasoning_switches_are_forwarded(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    reply = await chat(
        client, chat_body("cerebras", stream=False, disable_reasoning=True, reasoning_effort="low")
    )
    assert reply.status == 200
    assert "X-Ignored-Parameters" not in reply.headers
    body = vendor.requests[-1].body
    assert (body["disable_reasoning"], body["reasoning_effort"]) == (True, "low")
