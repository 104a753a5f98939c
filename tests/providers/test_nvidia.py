"""NVIDIA NIM wire quirks: thinking goes through `chat_template_kwargs`, chunks with empty `choices`."""

import httpx
import pytest

from tests.conftest import ChatCall, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream, usage_chunk

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("thinking", "enabled"),
    [(True, True), (False, False), ({"type": "disabled"}, False), ({"type": "adaptive"}, True)],
)
async def test_the_thinking_switch_is_sent_as_chat_template_kwargs(
    client: httpx.AsyncClient,
    vendor: FakeOpenAIVendor,
    chat: ChatCall,
    thinking: bool | dict[str, str],
    enabled: bool,
) -> None:
    body = chat_body(
        "nvidia", stream=False, model="nvidia/llama-3.3-nemotron-super-49b-v1", thinking=thinking
    )
    reply = await chat(client, body)
    assert reply.status == 200
    assert "X-Ignored-Parameters" not in reply.headers
    sent = vendor.requests[-1].body
    assert sent["chat_template_kwargs"] == {"enable_thinking": enabled}
    assert "thinking" not in sent


async def test_reasoning_content_and_chunks_without_choices_are_handled(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    empty = chunk() | {"choices": []}
    vendor.queue(
        Reply(
            [
                sse(empty),
                sse(chunk(reasoning_content="Check the facts.")),
                sse(empty),
                *text_stream("Done.", usage=False),
            ]
        )
    )
    reply = await chat(client, chat_body("nvidia", model="deepseek-ai/deepseek-r1"))
    assert reply.status == 200
    assert (reply.reasoning, reply.text) == ("Check the facts.", "Done.")
    assert not any("usage" in e for e in reply.events)
    stored = (await client.get(f"/api/v1/sessions/{reply.events[0]['session_id']}")).json()["messages"][-1]
    assert (stored["status"], stored["usage"]) == ("complete", None)


async def test_a_usage_chunk_without_choices_is_kept(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    vendor.queue(Reply([sse(chunk("Hi")), sse(usage_chunk(3, 1)), sse("[DONE]")]))
    reply = await chat(client, chat_body("nvidia"))
    assert reply.status == 200
    assert reply.events[-2:] == [
        {"usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
        {"done": True},
    ]
