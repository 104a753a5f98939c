"""Failures before and during a reply: which HTTP status or SSE event the client gets, and what it says.

A request refused before anything is stored is an HTTP status. Once the turn is stored, a streamed
reply's failure is an `{"error": "<provider>: ..."}` event followed by `{"done": true}`, with the
partial text kept (`vendor_failure` checks both forms); an unstreamed one is an HTTP status.
"""

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

import database
from tests.conftest import ChatCall, ServeApp, SettingsFactory, chat_body, vendor_failure
from tests.fakes.openai_vendor import (
    FakeOpenAIVendor,
    Reply,
    chunk,
    completion,
    sse,
    text_stream,
    usage_chunk,
    whole_reply,
    wire,
)

pytestmark = pytest.mark.timeout(30)

STREAM = [True, False]


def closed_port_url() -> str:
    """A loopback URL nothing listens on: bind a port, then release it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@asynccontextmanager
async def hanging_up_vendor() -> AsyncIterator[str]:
    """A loopback server that accepts each connection and closes it before answering anything."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def stored_reply(http: httpx.AsyncClient, session_id: int) -> dict[str, object]:
    detail = (await http.get(f"/api/v1/sessions/{session_id}")).json()
    message: dict[str, object] = detail["messages"][-1]
    return message


# --- before the vendor is called ----------------------------------------------------------------


@pytest.mark.parametrize("stream", STREAM)
async def test_an_unknown_provider_is_a_400_listing_the_known_ids(
    client: httpx.AsyncClient, stream: bool
) -> None:
    body = chat_body(stream=stream) | {"provider": "nosuch"}
    response = await client.post("/api/v1/chat", json=body)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "Unknown provider 'nosuch'" in detail
    for known in ("deepseek", "openai", "openrouter", "mistral"):
        assert known in detail


@pytest.mark.parametrize("stream", STREAM)
async def test_an_unconfigured_provider_is_a_400_naming_the_variable_to_set(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    async with serve(make_settings(deepseek_api_key=None)) as http:
        response = await http.post("/api/v1/chat", json=chat_body("deepseek", stream=stream))
    assert response.status_code == 400
    assert "DEEPSEEK_API_KEY" in response.json()["detail"]
    assert "deepseek" in response.json()["detail"]
    assert vendor.requests == []


async def test_an_unconfigured_message_provider_is_refused_even_when_the_session_provider_works(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    async with serve(make_settings(mistral_api_key=None)) as http:
        body = chat_body("deepseek", stream=False, message_provider="mistral", message_model="m")
        response = await http.post("/api/v1/chat", json=body)
    assert response.status_code == 400
    assert "MISTRAL_API_KEY" in response.json()["detail"]
    assert vendor.requests == []


# --- the vendor answers with an error status ----------------------------------------------------


@pytest.mark.parametrize(("vendor_status", "stream"), [(401, True), (403, False)])
async def test_a_rejected_key_is_a_502_saying_the_vendor_rejected_it(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, vendor_status: int, stream: bool
) -> None:
    vendor.queue(Reply(status=vendor_status, error={"error": {"message": "Invalid API key provided"}}))
    detail, body = await vendor_failure(client, chat_body("groq", stream=stream), 502)
    assert body is None or body["provider"] == "groq"
    assert detail.startswith("groq: ")
    assert "rejected the API key" in detail
    assert "Invalid API key provided" in detail


@pytest.mark.parametrize("stream", STREAM)
async def test_a_vendor_rate_limit_is_a_429_with_the_vendors_message(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    message = "Rate limit reached for gpt-4.1-mini on tokens per min (TPM)"
    vendor.queue(Reply(status=429, error={"error": {"message": message, "code": "rate_limit_exceeded"}}))
    detail, _ = await vendor_failure(client, chat_body("openai", stream=stream), 429)
    assert detail == f"openai: {message}"


@pytest.mark.parametrize("stream", STREAM)
async def test_a_vendor_500_is_a_502_naming_the_provider(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    vendor.queue(Reply(status=500, error={"error": {"message": "upstream exploded"}}))
    detail, body = await vendor_failure(client, chat_body("cerebras", stream=stream), 502)
    assert detail == "cerebras: upstream exploded"
    assert body in (None, {"detail": detail, "provider": "cerebras"})


async def test_a_vendor_400_is_a_400_with_the_vendors_own_reason(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(status=400, error=json.loads(wire("openai-error-400.json"))))
    detail, _ = await vendor_failure(client, chat_body("openai", stream=True), 400)
    assert detail.startswith("openai: This model's maximum context length")


async def test_an_openrouter_out_of_credits_402_is_a_429_with_its_message(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(status=402, error=json.loads(wire("openrouter-error-402.json"))))
    response = await client.post("/api/v1/chat", json=chat_body("openrouter", stream=False))
    assert response.status_code == 429
    assert "openrouter: This request requires more credits" in response.json()["detail"]


@pytest.mark.parametrize("stream", STREAM)
async def test_a_failed_turn_keeps_the_user_message_and_stores_the_reply_as_an_error(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    vendor.queue(Reply(status=500, error={"error": {"message": "boom"}}))
    await vendor_failure(client, chat_body("deepseek", "keep me", stream=stream), 502)
    sessions = (await client.get("/api/v1/sessions")).json()
    detail = (await client.get(f"/api/v1/sessions/{sessions[0]['id']}")).json()
    user, reply = detail["messages"]
    assert user["content"] == "keep me"
    assert reply["status"] == "error"
    assert reply["error"] == "deepseek: boom"


# --- the vendor cannot be reached, or does not answer in time -----------------------------------


@pytest.mark.parametrize("stream", STREAM)
async def test_an_unreachable_vendor_is_a_502_saying_it_could_not_be_reached(
    make_settings: SettingsFactory, serve: ServeApp, stream: bool
) -> None:
    async with serve(make_settings(grok_base_url=closed_port_url())) as http:
        detail, _ = await vendor_failure(http, chat_body("grok", stream=stream), 502)
    assert detail.startswith("grok: could not reach the vendor")


@pytest.mark.parametrize("stream", STREAM)
@pytest.mark.parametrize(
    ("provider", "base_path", "model"), [("grok", "/v1", "grok-3-mini"), ("gemini", "", "gemini-2.5-flash")]
)
async def test_a_vendor_that_hangs_up_before_answering_is_a_502_not_a_timeout(
    make_settings: SettingsFactory, serve: ServeApp, provider: str, base_path: str, model: str, stream: bool
) -> None:
    # The HTTP stack reports a connection closed at once as a connect timeout; it is not one.
    async with hanging_up_vendor() as url:
        settings = make_settings(**{f"{provider}_base_url": url + base_path})
        async with serve(settings) as http:
            body = chat_body(stream=stream) | {"provider": provider, "model": model}
            detail, _ = await vendor_failure(http, body, 502)
    assert detail.startswith(f"{provider}: ")
    assert "in time" not in detail


@pytest.mark.parametrize("stream", STREAM)
async def test_a_vendor_silent_past_provider_timeout_is_a_504(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    vendor.queue(Reply(text_stream("late"), wait=1.0))
    async with serve(make_settings(provider_timeout=0.3)) as http:
        detail, _ = await vendor_failure(http, chat_body("siliconflow", stream=stream), 504)
    assert detail == "siliconflow: the vendor did not answer in time"


async def test_an_open_stream_may_pause_longer_than_provider_timeout(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    # PROVIDER_TIMEOUT bounds the start of the answer; pauses in an open stream (a reasoning model
    # thinking) are for FIRST_TOKEN_TIMEOUT and STREAM_IDLE_TIMEOUT to judge.
    vendor.queue(Reply(text_stream("after a pause", " and another"), delay=0.6))
    async with serve(make_settings(provider_timeout=0.3)) as http:
        reply = await chat(http, chat_body("nvidia"))
        stored = await stored_reply(http, reply.events[0]["session_id"])
    assert reply.status == 200
    assert reply.text == "after a pause and another"
    assert reply.events[-1] == {"done": True}
    assert (stored["status"], stored["content"]) == ("complete", "after a pause and another")


async def test_a_503_is_retried_and_the_second_try_answers(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    # retry-after-ms keeps the SDK's back-off short; the retry itself is the SDK's.
    busy = Reply(status=503, error={"error": {"message": "overloaded"}}, headers={"retry-after-ms": "20"})
    vendor.queue(busy, Reply(text_stream("second", " try")))
    async with serve(make_settings(provider_max_retries=2)) as http:
        reply = await chat(http, chat_body("deepseek"))
    assert reply.status == 200
    assert reply.text == "second try"
    assert len(vendor.requests) == 2
    assert reply.events[-1] == {"done": True}


async def test_with_retries_off_a_503_is_not_retried(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(status=503, error={"error": {"message": "overloaded"}}))
    response = await client.post("/api/v1/chat", json=chat_body("deepseek", stream=False))
    assert response.status_code == 502
    assert response.json()["detail"] == "deepseek: overloaded"
    assert len(vendor.requests) == 1


# --- after the first byte: errors are events ----------------------------------------------------

OPENROUTER_MID_STREAM_ERROR = {
    "id": "cmpl-abc123",
    "object": "chat.completion.chunk",
    "created": 1234567890,
    "model": "openai/gpt-4o-mini",
    "provider": "openai",
    "error": {"code": "server_error", "message": "Provider disconnected unexpectedly"},
    "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
}


async def test_an_openrouter_error_object_mid_stream_becomes_an_error_event_then_done(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    vendor.queue(Reply([sse(chunk("Paris is")), sse(chunk(" the")), sse(OPENROUTER_MID_STREAM_ERROR)]))
    reply = await chat(client, chat_body("openrouter"))
    assert reply.status == 200
    assert reply.text == "Paris is the"
    assert reply.events[-2:] == [
        {"error": "openrouter: Provider disconnected unexpectedly"},
        {"done": True},
    ]
    stored = await stored_reply(client, reply.events[0]["session_id"])
    assert stored["content"] == "Paris is the"
    assert stored["status"] == "error"
    assert stored["error"] == "openrouter: Provider disconnected unexpectedly"


@pytest.mark.parametrize("provider", ["deepseek", "mistral"])
async def test_a_connection_dropped_mid_stream_becomes_an_error_event_and_keeps_the_partial_text(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, provider: str
) -> None:
    vendor.queue(Reply([sse(chunk("Half an")), sse(chunk(" answer"))], drop=True))
    reply = await chat(client, chat_body(provider))
    assert reply.status == 200
    assert reply.text == "Half an answer"
    error, done = reply.events[-2:]
    assert (
        error["error"]
        == f"{provider}: the connection to the vendor failed: the reply was cut off before its end"
    )
    assert done == {"done": True}
    stored = await stored_reply(client, reply.events[0]["session_id"])
    assert stored["content"] == "Half an answer"
    assert stored["status"] == "error"
    assert stored["error"] == error["error"]


async def test_a_data_line_that_is_not_json_becomes_an_error_event_naming_the_provider(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    vendor.queue(Reply([sse(chunk("Before")), b"data: {not json\n\n", sse("[DONE]")]))
    reply = await chat(client, chat_body("cerebras"))
    assert reply.status == 200
    assert reply.text == "Before"
    error, done = reply.events[-2:]
    assert error["error"].startswith("cerebras: unreadable reply from the vendor")
    assert done == {"done": True}
    stored = await stored_reply(client, reply.events[0]["session_id"])
    assert (stored["content"], stored["status"]) == ("Before", "error")


async def test_an_event_that_never_ends_is_cut_off_and_the_text_before_it_kept(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("providers.sse.MAX_EVENT_CHARS", 1000)
    # Without the bound the service would buffer this line until the vendor ended the body.
    vendor.queue(Reply([sse(chunk("Before")), b"data: " + b"x" * 3000], stall=20))
    reply = await chat(client, chat_body("deepseek"))
    assert reply.text == "Before"
    assert reply.events[-2:] == [
        {"error": "deepseek: the vendor's stream sent an event of over 1,000 characters; it was cut off"},
        {"done": True},
    ]
    stored = await stored_reply(client, reply.events[0]["session_id"])
    assert (stored["content"], stored["status"]) == ("Before", "error")
    async with asyncio.timeout(5):  # the vendor, still stalling, sees the connection closed
        while vendor.disconnects == 0:
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("stream", STREAM)
async def test_a_stream_that_is_not_json_from_the_start_is_a_502(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    vendor.queue(Reply([b"data: <html>proxy error</html>\n\n"]))
    detail, _ = await vendor_failure(client, chat_body("cerebras", stream=stream), 502)
    assert detail.startswith("cerebras: unreadable reply from the vendor")


@pytest.mark.parametrize("stream", STREAM)
async def test_an_error_object_sent_whole_with_status_200_is_a_502_with_the_vendors_message(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    vendor.queue(whole_reply({"error": {"message": "Model is overloaded", "type": "server_error"}}))
    detail, body = await vendor_failure(client, chat_body("deepseek", stream=stream), 502)
    assert detail == "deepseek: Model is overloaded"
    assert body in (None, {"detail": detail, "provider": "deepseek"})
    sessions = (await client.get("/api/v1/sessions")).json()
    stored = await stored_reply(client, sessions[0]["id"])
    assert (stored["content"], stored["status"]) == ("", "error")


@pytest.mark.parametrize("body", [b"<html>busy</html>", b"[]", b""])
async def test_a_reply_sent_whole_that_is_no_chat_completion_is_a_502(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, body: bytes
) -> None:
    vendor.queue(whole_reply(body))
    response = await client.post("/api/v1/chat", json=chat_body("groq", stream=False))
    assert response.status_code == 502
    assert response.json()["detail"].startswith("groq: unreadable reply from the vendor")


@pytest.mark.parametrize("stream", STREAM)
async def test_a_reply_sent_whole_is_cut_off_past_the_size_bound(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    monkeypatch.setattr("providers.sse.MAX_EVENT_CHARS", 1000)
    vendor.queue(whole_reply(completion("x" * 3000)))
    detail, _ = await vendor_failure(client, chat_body("deepseek", stream=stream), 502)
    assert detail == "deepseek: the vendor's reply was a body of over 1,000 bytes; it was cut off"


async def test_a_stream_that_ends_without_done_marker_is_still_complete(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    # A clean end of body without `data: [DONE]` is how some vendors finish; it is not an error.
    vendor.queue(Reply([sse(chunk("ok")), sse(chunk(finish_reason="stop")), sse(usage_chunk())]))
    reply = await chat(client, chat_body("grok"))
    assert reply.status == 200
    assert reply.text == "ok"
    assert reply.events[-1] == {"done": True}
    assert not any("error" in e for e in reply.events)


async def test_a_mid_stream_error_with_stream_false_is_a_502_and_the_partial_text_is_stored(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply([sse(chunk("partial")), sse(OPENROUTER_MID_STREAM_ERROR)]))
    response = await client.post("/api/v1/chat", json=chat_body("openrouter", stream=False))
    assert response.status_code == 502
    assert response.json()["detail"] == "openrouter: Provider disconnected unexpectedly"
    sessions = (await client.get("/api/v1/sessions")).json()
    stored = await stored_reply(client, sessions[0]["id"])
    assert (stored["content"], stored["status"]) == ("partial", "error")


# --- our own failures ---------------------------------------------------------------------------


async def test_an_unexpected_failure_is_a_500_with_a_reference_to_the_log_and_nothing_of_its_text(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("cannot open /srv/chat/secret.db")

    monkeypatch.setattr(database, "list_sessions", broken)
    response = await client.get("/api/v1/sessions")
    assert response.status_code == 500
    body = response.json()
    assert "secret" not in response.text
    reference = body["reference"]
    assert body["detail"] == f"Internal error, reference {reference}: the server's log has the details"
    [logged] = [r for r in caplog.records if reference in r.getMessage()]
    assert logged.exc_info is not None
    assert "cannot open /srv/chat/secret.db" in str(logged.exc_info[1])
