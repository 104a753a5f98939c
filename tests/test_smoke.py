import json

import httpx
from httpx_sse import aconnect_sse

from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, text_stream


async def test_streamed_reply_is_relayed_and_stored(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("Hel", "lo")))
    body = {"provider": "deepseek", "model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}
    async with aconnect_sse(client, "POST", "/api/v1/chat", json=body) as source:
        events = [json.loads(e.data) async for e in source.aiter_sse()]
    assert events[0].keys() == {"session_id"}
    assert [e["content"] for e in events if "content" in e] == ["Hel", "lo"]
    assert events[-1] == {"done": True}
    detail = (await client.get(f"/api/v1/sessions/{events[0]['session_id']}")).json()
    assert [m["content"] for m in detail["messages"]] == ["hi", "Hello"]
