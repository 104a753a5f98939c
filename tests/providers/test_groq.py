"""Groq wire quirks: `x_groq` objects, usage in the finish chunk, parsed reasoning in `delta.reasoning`."""

import httpx
import pytest

from tests.conftest import ChatCall, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream, wire

pytestmark = pytest.mark.timeout(30)


async def test_a_recorded_groq_stream_is_relayed_with_the_usage_of_its_finish_chunk(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    vendor.queue(Reply([wire("groq-basic.sse")]))
    reply = await chat(client, chat_body("groq"))
    assert reply.status == 200
    assert reply.text == "Hi there!"
    usage = next(e["usage"] for e in reply.events if "usage" in e)
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (45, 6, 51)
    stored = (await client.get(f"/api/v1/sessions/{reply.events[0]['session_id']}")).json()["messages"][-1]
    assert stored["usage"] == usage
    assert stored["finish_reason"] == "stop"


async def test_parsed_reasoning_is_relayed_and_groq_reasoning_settings_are_forwarded(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    vendor.queue(Reply([sse(chunk(reasoning="Short question.")), *text_stream("Answer.")]))
    settings = {"reasoning_format": "parsed", "include_reasoning": True, "reasoning_effort": "default"}
    reply = await chat(client, chat_body("groq", model="qwen/qwen3-32b", **settings))
    assert reply.status == 200
    assert (reply.reasoning, reply.text) == ("Short question.", "Answer.")
    assert "X-Ignored-Parameters" not in reply.headers
    body = vendor.requests[-1].body
    assert {key: body[key] for key in settings} == settings
