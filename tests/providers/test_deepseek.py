"""DeepSeek wire quirks: `reasoning_content`, usage in the finish chunk, `thinking` as an object."""

import httpx
import pytest

from tests.conftest import ChatCall, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, completion, text_stream, whole_reply, wire

pytestmark = pytest.mark.timeout(30)

REASONING = "We need to compare 9.11 and 9.8. 9.8 = 9.80, which is larger."
ANSWER = "9.8 is greater than 9.11."


@pytest.mark.parametrize("stream", [True, False])
async def test_reasoning_content_is_relayed_as_reasoning_and_stored_as_the_thought_process(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, stream: bool
) -> None:
    vendor.queue(Reply([wire("deepseek-reasoner.sse")]))
    reply = await chat(
        client, chat_body("deepseek", "9.11 or 9.8?", stream=stream, model="deepseek-reasoner")
    )
    assert reply.status == 200
    if stream:
        assert (reply.reasoning, reply.text) == (REASONING, ANSWER)
        kinds = [next(iter(e)) for e in reply.events]
        assert kinds.index("content") > max(i for i, kind in enumerate(kinds) if kind == "reasoning")
        session_id = reply.events[0]["session_id"]
    else:
        session_id = reply.json["session_id"]
    stored = (await client.get(f"/api/v1/sessions/{session_id}")).json()["messages"][-1]
    assert (stored["content"], stored["thought_process"]) == (ANSWER, REASONING)
    assert (stored["model"], stored["finish_reason"], stored["status"]) == (
        "deepseek-reasoner",
        "stop",
        "complete",
    )
    # DeepSeek puts usage in the finish chunk itself, with its cache counters.
    assert stored["usage"]["total_tokens"] == 77
    assert stored["usage"]["prompt_cache_miss_tokens"] == 16


@pytest.mark.parametrize(
    ("thinking", "wire_form"),
    [
        (True, {"type": "enabled"}),
        (False, {"type": "disabled"}),
        ({"type": "disabled"}, {"type": "disabled"}),
    ],
)
async def test_the_thinking_switch_is_sent_as_deepseeks_object_form(
    client: httpx.AsyncClient,
    vendor: FakeOpenAIVendor,
    chat: ChatCall,
    thinking: bool | dict[str, str],
    wire_form: dict[str, str],
) -> None:
    reply = await chat(
        client, chat_body("deepseek", stream=False, thinking=thinking, reasoning_effort="high")
    )
    assert reply.status == 200
    assert "X-Ignored-Parameters" not in reply.headers
    body = vendor.requests[-1].body
    assert body["thinking"] == wire_form
    assert body["reasoning_effort"] == "high"


async def test_keep_alive_comments_before_the_first_chunk_are_skipped(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    # A busy DeepSeek opens the stream with `: keep-alive` comment lines.
    vendor.queue(Reply([b": keep-alive\n\n", b": keep-alive\n\n", *text_stream("ok")], delay=0.01))
    reply = await chat(client, chat_body("deepseek"))
    assert reply.status == 200
    assert reply.text == "ok"
    assert reply.events[-1] == {"done": True}


# https://api-docs.deepseek.com/quick_start/rate_limit: blank lines keep a non-streamed request
# alive; the body then has `message.reasoning_content` next to `content`.
DEEPSEEK_USAGE = {
    "prompt_tokens": 16,
    "completion_tokens": 61,
    "total_tokens": 77,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 52},
    "prompt_cache_hit_tokens": 0,
    "prompt_cache_miss_tokens": 16,
}


@pytest.mark.parametrize("stream", [True, False])
async def test_a_reply_sent_whole_after_keep_alive_blank_lines_is_read_exactly(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, stream: bool
) -> None:
    body = completion(ANSWER, reasoning_content=REASONING, finish_reason="length", usage=DEEPSEEK_USAGE)
    vendor.queue(whole_reply(body))
    reply = await chat(
        client, chat_body("deepseek", "9.11 or 9.8?", stream=stream, model="deepseek-reasoner")
    )
    assert reply.status == 200
    if stream:
        assert (reply.reasoning, reply.text) == (REASONING, ANSWER)
        assert {"usage": DEEPSEEK_USAGE} in reply.events
        assert reply.events[-1] == {"done": True}
        session_id = reply.events[0]["session_id"]
    else:
        session_id = reply.json["session_id"]
    stored = (await client.get(f"/api/v1/sessions/{session_id}")).json()["messages"][-1]
    if not stream:
        assert reply.json["message"] == stored
    assert (stored["content"], stored["thought_process"]) == (ANSWER, REASONING)
    assert (stored["finish_reason"], stored["status"], stored["error"]) == ("length", "complete", None)
    assert stored["usage"] == DEEPSEEK_USAGE
