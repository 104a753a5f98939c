"""OpenRouter wire quirks: `reasoning`, url_citation annotations, attribution headers, in-stream errors."""

from typing import Any

import httpx
import pytest

from tests.conftest import ChatCall, ServeApp, SettingsFactory, chat_body, vendor_failure
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream, usage_chunk, wire

pytestmark = pytest.mark.timeout(30)


def error_chunk(message: str) -> dict[str, Any]:
    """OpenRouter's documented mid-stream error: a top-level `error` and finish_reason "error"."""
    return {
        "id": "cmpl-abc123",
        "object": "chat.completion.chunk",
        "created": 1234567890,
        "model": "anthropic/claude-sonnet-4",
        "provider": "anthropic",
        "error": {"code": "server_error", "message": message},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }


async def stored_reply(http: httpx.AsyncClient, session_id: int) -> dict[str, Any]:
    message: dict[str, Any] = (await http.get(f"/api/v1/sessions/{session_id}")).json()["messages"][-1]
    return message


async def test_reasoning_and_processing_comments_are_handled_and_usage_with_cost_is_stored(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    vendor.queue(Reply([wire("openrouter-reasoning.sse")]))
    reply = await chat(
        client, chat_body("openrouter", "Capital of France?", model="anthropic/claude-sonnet-4.5")
    )
    assert reply.status == 200
    assert reply.reasoning == "The user wants a one-line answer."
    assert reply.text == "Paris is the capital of France."
    stored = await stored_reply(client, reply.events[0]["session_id"])
    assert stored["thought_process"] == "The user wants a one-line answer."
    assert stored["content"] == "Paris is the capital of France."
    assert stored["usage"]["cost"] == 0.000537
    assert stored["usage"]["total_tokens"] == 55


async def test_url_citations_become_search_results_in_the_stream_and_in_the_stored_reply(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    full = {
        "type": "url_citation",
        "url_citation": {
            "url": "https://digital-strategy.ec.europa.eu/en/policies/ai-act",
            "title": "AI Act | Shaping Europe's digital future",
            "content": "The AI Act is the first-ever legal framework on AI ...",
            "start_index": 68,
            "end_index": 137,
        },
    }
    bare = {
        "type": "url_citation",
        "url_citation": {"url": "https://example.org/news"},
    }  # title, content missing
    vendor.queue(
        Reply(
            [
                sse(chunk("The Commission published guidance.")),
                sse(chunk("", annotations=[full, bare])),
                sse(chunk(finish_reason="stop")),
                sse(usage_chunk()),
                sse("[DONE]"),
            ]
        )
    )
    reply = await chat(client, chat_body("openrouter", plugins=[{"id": "web", "max_results": 2}]))
    assert reply.status == 200
    expected = [
        {
            "title": "AI Act | Shaping Europe's digital future",
            "url": "https://digital-strategy.ec.europa.eu/en/policies/ai-act",
            "content": "The AI Act is the first-ever legal framework on AI ...",
        },
        {"title": "https://example.org/news", "url": "https://example.org/news", "content": ""},
    ]
    assert [e["search_results"] for e in reply.events if "search_results" in e] == [expected]
    assert (await stored_reply(client, reply.events[0]["session_id"]))["search_results"] == expected
    assert vendor.requests[-1].body["plugins"] == [{"id": "web", "max_results": 2}]


async def test_attribution_headers_are_sent_when_configured(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    settings = make_settings(
        openrouter_http_referer="https://chat.example.com", openrouter_x_title="Lite Chat"
    )
    async with serve(settings) as http:
        reply = await chat(http, chat_body("openrouter", stream=False))
        models = await http.get("/api/v1/models", params={"provider": "openrouter"})
    assert (reply.status, models.status_code) == (200, 200)
    headers = vendor.requests[-1].headers
    assert headers["http-referer"] == "https://chat.example.com"
    assert headers["x-title"] == "Lite Chat"


async def test_attribution_headers_are_absent_when_not_configured(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    reply = await chat(client, chat_body("openrouter", stream=False))
    assert reply.status == 200
    assert "http-referer" not in vendor.requests[-1].headers
    assert "x-title" not in vendor.requests[-1].headers


async def test_an_error_object_after_reasoning_is_an_error_event_and_the_reasoning_is_kept(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    # The documented form: no `[DONE]` after the error chunk.
    vendor.queue(
        Reply(
            [
                b": OPENROUTER PROCESSING\n\n",
                sse(chunk(reasoning="Thinking it over")),
                sse(error_chunk("Provider disconnected unexpectedly")),
            ]
        )
    )
    reply = await chat(client, chat_body("openrouter"))
    assert reply.status == 200
    assert reply.reasoning == "Thinking it over"
    assert reply.events[-2:] == [{"error": "openrouter: Provider disconnected unexpectedly"}, {"done": True}]
    stored = await stored_reply(client, reply.events[0]["session_id"])
    assert (stored["thought_process"], stored["content"], stored["status"]) == (
        "Thinking it over",
        "",
        "error",
    )


@pytest.mark.parametrize("stream", [True, False])
async def test_an_error_object_before_any_output_is_a_502_or_an_error_event_naming_openrouter(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    vendor.queue(Reply([b": OPENROUTER PROCESSING\n\n", sse(error_chunk("No endpoints found"))]))
    detail, body = await vendor_failure(client, chat_body("openrouter", stream=stream), 502)
    assert detail == "openrouter: No endpoints found"
    assert body in (None, {"detail": detail, "provider": "openrouter"})


async def test_openrouter_routing_settings_are_forwarded_as_sent(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    routing = {
        "models": ["openai/gpt-4.1", "anthropic/claude-sonnet-4.5"],
        "route": "fallback",
        "transforms": ["middle-out"],
        "reasoning": {"effort": "low", "exclude": False},
        "web_search_options": {"search_context_size": "medium"},
        "repetition_penalty": 1.1,
        "top_logprobs": 5,
        "logprobs": True,
    }
    vendor.queue(Reply(text_stream("ok")))
    reply = await chat(client, chat_body("openrouter", stream=False, **routing))
    assert reply.status == 200
    assert "X-Ignored-Parameters" not in reply.headers
    body = vendor.requests[-1].body
    assert {key: body[key] for key in routing} == routing
