"""SiliconFlow wire quirks: Chinese `reasoning_content` split mid-character, usage on every chunk."""

import httpx
import pytest

from tests.conftest import ChatCall, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, wire

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("split", [1, 7])
async def test_multibyte_text_split_anywhere_arrives_whole_and_the_last_usage_is_kept(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, split: int
) -> None:
    # Split every byte or every 7 bytes, so UTF-8 characters break across network reads.
    vendor.queue(Reply([wire("siliconflow-thinking.sse")], split=split))
    reply = await chat(client, chat_body("siliconflow", "你好"))
    assert reply.status == 200
    assert (reply.reasoning, reply.text) == ("用户在打招呼。", "你好！有什么可以帮你？")
    stored = (await client.get(f"/api/v1/sessions/{reply.events[0]['session_id']}")).json()["messages"][-1]
    assert (stored["content"], stored["thought_process"]) == ("你好！有什么可以帮你？", "用户在打招呼。")
    assert (stored["usage"]["completion_tokens"], stored["usage"]["total_tokens"]) == (19, 33)


async def test_siliconflow_thinking_and_sampling_settings_are_forwarded(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    settings = {"enable_thinking": True, "thinking_budget": 4096, "min_p": 0.05, "top_k": 20}
    reply = await chat(client, chat_body("siliconflow", stream=False, **settings))
    assert reply.status == 200
    assert "X-Ignored-Parameters" not in reply.headers
    body = vendor.requests[-1].body
    assert {key: body[key] for key in settings} == settings
