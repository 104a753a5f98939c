"""Mistral wire quirks: Magistral's list-valued content, max_tokens only, no stream_options."""

import json

import httpx
import pytest

from tests.conftest import ChatCall, chat_body, vendor_failure
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, wire

pytestmark = pytest.mark.timeout(30)

THINKING = "The user is asking for 2+2, which is 4."


@pytest.mark.parametrize("stream", [True, False])
async def test_magistral_thinking_chunks_become_reasoning_and_text_chunks_the_answer(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, stream: bool
) -> None:
    vendor.queue(Reply([wire("mistral-magistral.sse")]))
    reply = await chat(client, chat_body("mistral", "2+2?", stream=stream, model="magistral-medium-latest"))
    assert reply.status == 200
    if stream:
        assert (reply.reasoning, reply.text) == (THINKING, "2 + 2 = 4")
        session_id = reply.events[0]["session_id"]
    else:
        session_id = reply.json["session_id"]
    stored = (await client.get(f"/api/v1/sessions/{session_id}")).json()["messages"][-1]
    assert (stored["content"], stored["thought_process"]) == ("2 + 2 = 4", THINKING)
    assert stored["usage"] == {"prompt_tokens": 10, "total_tokens": 40, "completion_tokens": 30}


async def test_plain_string_deltas_after_list_chunks_are_text(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    thinking = {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]}
    vendor.queue(
        Reply(
            [
                sse(chunk([thinking])),
                sse(chunk([{"type": "text", "text": "A"}])),
                sse(chunk("B")),
                sse("[DONE]"),
            ]
        )
    )
    reply = await chat(client, chat_body("mistral"))
    assert reply.status == 200
    assert (reply.reasoning, reply.text) == ("hmm", "AB")


async def test_max_completion_tokens_is_sent_as_max_tokens_and_no_stream_options_are_sent(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    reply = await chat(client, chat_body("mistral", stream=False, max_completion_tokens=512))
    assert reply.status == 200
    body = vendor.requests[-1].body
    assert body["max_tokens"] == 512
    assert "max_completion_tokens" not in body
    assert "stream_options" not in body


async def test_when_both_token_limits_are_sent_mistrals_own_max_tokens_wins(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    reply = await chat(client, chat_body("mistral", stream=False, max_tokens=100, max_completion_tokens=900))
    assert reply.status == 200
    body = vendor.requests[-1].body
    assert body["max_tokens"] == 100
    assert "max_completion_tokens" not in body


async def test_safe_prompt_and_random_seed_are_forwarded_and_other_vendors_settings_are_not(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    reply = await chat(
        client, chat_body("mistral", stream=False, safe_prompt=False, random_seed=42, top_k=5, min_p=0.1)
    )
    assert reply.status == 200
    assert reply.headers["X-Ignored-Parameters"] == "min_p, top_k"
    body = vendor.requests[-1].body
    assert (body["safe_prompt"], body["random_seed"]) == (False, 42)
    assert "top_k" not in body and "min_p" not in body


@pytest.mark.parametrize("stream", [True, False])
async def test_a_mistral_422_names_the_rejected_field(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    vendor.queue(Reply(status=422, error=json.loads(wire("mistral-error-422.json"))))
    detail, body = await vendor_failure(client, chat_body("mistral", stream=stream), 400)
    assert detail == "mistral: body.max_completion_tokens: Extra inputs are not permitted"
    assert body in (None, {"detail": detail, "provider": "mistral"})


async def test_a_thinking_block_given_as_a_string_is_read_as_reasoning(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    odd = {"type": "thinking", "thinking": "a bare string"}
    vendor.queue(Reply([sse(chunk([odd])), sse(chunk("x")), sse("[DONE]")]))
    response = await client.post("/api/v1/chat", json=chat_body("mistral", stream=False))
    assert response.status_code == 200
    assert response.json()["message"]["thought_process"] == "a bare string"


async def test_a_reply_that_breaks_inside_the_service_is_a_502_naming_the_vendor(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    # `choices` of the wrong type cannot be mapped: the reply ends as an error, never as a success.
    vendor.queue(
        Reply(
            [
                sse(chunk("x")),
                sse({"id": "x", "object": "chat.completion.chunk", "choices": 7}),
                sse("[DONE]"),
            ]
        )
    )
    response = await client.post("/api/v1/chat", json=chat_body("mistral", stream=False))
    assert response.status_code == 502
    assert response.json()["detail"].startswith("mistral: could not process the vendor's reply")
