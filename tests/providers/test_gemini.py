"""Gemini through the public HTTP API: the real google-genai SDK talks to a fake Gemini server."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from google import genai
from google.genai import types
from httpx_sse import aconnect_sse

from app_factory import create_app
from config import Settings
from providers.gemini import ModelProfile, profile_for
from tests import media_samples as samples
from tests.conftest import ChatReply, post_chat, vendor_failure
from tests.fakes.gemini_vendor import (
    FakeGeminiVendor,
    Reply,
    blocked_prompt,
    part,
    response,
    sse,
    text_stream,
    wire_events,
)
from tests.fakes.openai_vendor import wire
from tests.fakes.server import ServerThread


def _last_signature(sample: str) -> str:
    last_event = wire(sample).strip().split(b"\r\n\r\n")[-1]
    return json.loads(last_event.removeprefix(b"data: "))["candidates"][0]["content"]["parts"][0][
        "thoughtSignature"
    ]


THINKING_SIGNATURE = _last_signature("gemini-thinking.sse")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def gemini() -> Iterator[FakeGeminiVendor]:
    fake = FakeGeminiVendor()
    with ServerThread(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    path = tmp_path / "uploads"
    path.mkdir()
    return path


Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def serve(make_settings: Callable[..., Settings], gemini: FakeGeminiVendor, upload_dir: Path) -> Serve:
    """`async with serve(**settings) as http:` runs the service with Gemini pointed at the fake."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(
            gemini_api_key="k", gemini_base_url=gemini.url, upload_dir=upload_dir, **overrides
        )
        with ServerThread(create_app(settings), lifespan="on") as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                yield http

    return run


@pytest.fixture
async def api(serve: Serve) -> AsyncIterator[httpx.AsyncClient]:
    async with serve() as http:
        yield http


HI = [{"role": "user", "content": "hi"}]


async def ask(http: httpx.AsyncClient, content: str = "hi", **fields: Any) -> ChatReply:
    """POST /chat with one user message; SSE events when it streams, else the JSON body."""
    body = {"provider": "gemini", "model": "gemini-2.5-flash", **fields}
    body.setdefault("messages", [{"role": "user", "content": content}])
    return await post_chat(http, body)


async def stored_reply(http: httpx.AsyncClient, answer: ChatReply) -> dict[str, Any]:
    session = (await http.get(f"/api/v1/sessions/{answer.events[0]['session_id']}")).json()
    return session["messages"][-1]


async def test_streamed_reply_is_relayed_with_usage_and_stored(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply(wire_events("gemini-basic.sse")))
    answer = await ask(api)
    assert answer.status == 200
    assert answer.text == "Hello! I'm doing well, thanks for asking. How can I help?"
    assert answer.events[-1] == {"done": True}
    assert {"prompt_tokens": 9, "completion_tokens": 15, "total_tokens": 24}.items() <= answer.events[-2][
        "usage"
    ].items()
    request = gemini.last
    assert (request.path, request.query) == (
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        "alt=sse",
    )
    assert request.headers["x-goog-api-key"] == "k"
    assert request.body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    stored = await stored_reply(api, answer)
    assert (stored["content"], stored["status"], stored["finish_reason"]) == (
        answer.text,
        "complete",
        "stop",
    )
    assert stored["usage"]["total_tokens"] == 24


async def test_non_streaming_reply_collects_the_same_events(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply(wire_events("gemini-thinking.sse")))
    answer = await ask(api, stream=False, thinking_level="low")
    assert answer.status == 200
    message = answer.json["message"]
    assert message["content"] == 'There are **3** "r"s in strawberry.\n\nSt**r**awbe**rr**y'
    assert message["thought_process"].startswith("**Counting the letters**")
    assert message["thought_signatures"] == [THINKING_SIGNATURE]
    assert message["usage"]["thoughts_token_count"] == 302
    assert gemini.last.path.endswith(":streamGenerateContent")


async def test_system_prompt_and_sampling_parameters_become_gemini_config(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    answer = await ask(
        api,
        system_prompt="Answer concisely.",
        temperature=0.3,
        top_p=0.9,
        max_tokens=256,
        stop=["END"],
        frequency_penalty=0.5,
        image_detail="auto",
    )
    assert answer.status == 200
    body = gemini.last.body
    assert body["systemInstruction"]["parts"] == [{"text": "Answer concisely."}]
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.9,
        "maxOutputTokens": 256,
        "stopSequences": ["END"],
    }
    assert answer.headers["X-Ignored-Parameters"] == "frequency_penalty, image_detail"


async def test_thinking_level_streams_thoughts_as_reasoning_and_stores_them(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply(wire_events("gemini-thinking.sse"), split=5))
    answer = await ask(api, model="gemini-3-pro-preview", thinking_level="high")
    assert gemini.last.body["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingLevel": "HIGH",
    }
    reasoning = answer.reasoning
    assert reasoning.startswith("**Counting the letters**") and "three." in reasoning
    first_text = next(i for i, e in enumerate(answer.events) if "content" in e)
    assert all("reasoning" not in e for e in answer.events[first_text:])
    stored = await stored_reply(api, answer)
    assert stored["thought_process"] == reasoning
    assert stored["thought_signatures"] == [THINKING_SIGNATURE]


async def test_thinking_budget_asks_for_thoughts_too(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    await ask(api, thinking_budget=1024)
    assert gemini.last.body["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingBudget": 1024,
    }


async def test_fake_generate_content_answers_the_whole_scripted_reply(gemini: FakeGeminiVendor) -> None:
    # The service always streams; this keeps the fake's non-streaming endpoint honest for other users.
    gemini.queue(Reply(text_stream("Hel", "lo")))
    http = httpx2.AsyncClient()
    options = types.HttpOptions(
        base_url=gemini.url, api_version="v1beta", timeout=5000, httpx_async_client=http
    )
    client = genai.Client(vertexai=False, api_key="k", http_options=options)
    try:
        reply = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    finally:
        await client.aio.aclose()
        await http.aclose()
        client.close()
    assert (reply.text, reply.candidates[0].finish_reason) == ("Hello", types.FinishReason.STOP)
    assert gemini.last.path == "/v1beta/models/gemini-2.5-flash:generateContent"


async def test_thought_signatures_are_sent_back_with_the_history(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply(wire_events("gemini-thinking.sse")), Reply(text_stream("Sure.")))
    first = await ask(api, "How many r in strawberry?", thinking_level="high")
    second = await ask(api, "And in raspberry?", session_id=first.events[0]["session_id"])
    assert second.text == "Sure."
    contents = gemini.last.body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    [model_part] = contents[1]["parts"]
    assert model_part["text"] == 'There are **3** "r"s in strawberry.\n\nSt**r**awbe**rr**y'
    # The SDK writes bytes in the URL-safe alphabet; proto3 JSON reads both, so compare the bytes.
    assert base64.urlsafe_b64decode(model_part["thoughtSignature"]) == base64.b64decode(THINKING_SIGNATURE)


async def test_google_search_grounding_becomes_search_results_and_is_stored(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply(wire_events("gemini-grounding.json")))
    answer = await ask(api, "Who won Euro 2024?", google_search=True)
    assert gemini.last.body["tools"] == [{"googleSearch": {}}]
    [results] = [e["search_results"] for e in answer.events if "search_results" in e]
    redirect = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"
    assert [(r["title"], r["url"]) for r in results] == [
        ("uefa.com", redirect + "AUZIYQGx1dFh3k9Lx0aQmVdR2pT7"),
        ("wikipedia.org", redirect + "AUZIYQHb8sKq2Lw5Zr1nYtE4uJ0c"),
    ]
    assert results[0]["content"] == "Spain won UEFA Euro 2024, beating England 2–1 in the final in Berlin."
    assert (await stored_reply(api, answer))["search_results"] == results


async def test_grounding_repeated_on_later_chunks_is_reported_once(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    grounding = {"groundingChunks": [{"web": {"uri": "https://example.com/a", "title": "example.com"}}]}
    gemini.queue(
        Reply(
            [
                sse(response(part("A"), grounding=grounding)),
                sse(response(part("B"), grounding=grounding, finish="STOP")),
            ]
        )
    )
    answer = await ask(api, google_search=True)
    assert [e["search_results"] for e in answer.events if "search_results" in e] == [
        [{"title": "example.com", "url": "https://example.com/a", "content": ""}]
    ]


async def test_url_context_and_media_resolution_are_sent(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply(wire_events("gemini-url-context.json")))
    answer = await ask(api, "Summarise https://example.com/pricing", url_context=True, media_resolution="low")
    assert answer.text == "The page lists three pricing tiers: Free, Pro and Enterprise."
    assert gemini.last.body["tools"] == [{"urlContext": {}}]
    assert gemini.last.body["generationConfig"]["mediaResolution"] == "MEDIA_RESOLUTION_LOW"


async def test_unknown_media_resolution_is_refused_naming_the_values(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    answer = await ask(api, media_resolution="ultra")
    assert answer.status == 400
    assert answer.json["detail"] == "gemini: media_resolution must be low, medium or high, not 'ultra'"
    assert gemini.requests == []


@pytest.mark.parametrize("stream", [True, False])
async def test_a_model_id_no_url_can_hold_is_a_422_naming_the_field_and_nothing_is_stored(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor, stream: bool
) -> None:
    answer = await ask(api, model="gemini-2.5-flash\x1e", stream=stream)
    assert answer.status == 422
    assert [error["loc"] for error in answer.json["detail"]] == [["body", "model"]]
    assert gemini.requests == []
    assert (await api.get("/api/v1/sessions")).json() == []


async def test_blocked_prompt_ends_the_stream_with_an_error_event_saying_so(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply(blocked_prompt("PROHIBITED_CONTENT")))
    answer = await ask(api)
    # A refusal is the model's answer: it arrives in the stream even though nothing came before it.
    assert answer.status == 200
    assert answer.events[-2:] == [{"error": "gemini: prompt blocked (PROHIBITED_CONTENT)"}, {"done": True}]
    stored = await stored_reply(api, answer)
    assert (stored["status"], stored["error"]) == ("error", "gemini: prompt blocked (PROHIBITED_CONTENT)")


async def test_blocked_prompt_without_streaming_is_a_400_saying_so(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply(blocked_prompt("PROHIBITED_CONTENT")))
    answer = await ask(api, stream=False)
    assert answer.status == 400
    assert answer.json == {"detail": "gemini: prompt blocked (PROHIBITED_CONTENT)", "provider": "gemini"}


async def test_reply_blocked_mid_stream_ends_with_an_error_event(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply([sse(response(part("Here is"))), sse(response(finish="SAFETY"))]))
    answer = await ask(api)
    assert answer.status == 200
    assert answer.events[-2:] == [{"error": "gemini: reply blocked (SAFETY)"}, {"done": True}]
    stored = await stored_reply(api, answer)
    assert (stored["content"], stored["status"], stored["error"]) == (
        "Here is",
        "error",
        "gemini: reply blocked (SAFETY)",
    )


@pytest.mark.parametrize("stream", [True, False])
async def test_rate_limit_is_a_429_or_an_error_event_with_the_vendor_message(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor, stream: bool
) -> None:
    gemini.queue(Reply(status=429))
    body = {"provider": "gemini", "model": "gemini-2.5-flash", "messages": HI}
    detail, _ = await vendor_failure(api, body | {"stream": stream}, 429)
    assert detail == "gemini: You exceeded your current quota, please check your plan and billing details."


async def test_server_error_mid_stream_is_an_error_event(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    gemini.queue(Reply([sse(response(part("Partial"))), sse(error)]))
    answer = await ask(api)
    assert answer.text == "Partial"
    assert answer.events[-2] == {"error": "gemini: The model is overloaded."}


async def test_dropped_connection_mid_stream_is_an_error_event(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply([sse(response(part("Partial")))], drop=True))
    answer = await ask(api)
    assert answer.text == "Partial"
    assert answer.events[-2] == {
        "error": "gemini: the connection to the vendor failed: the reply was cut off before its end"
    }
    assert (await stored_reply(api, answer))["status"] == "error"


async def test_an_event_that_never_ends_is_cut_off_and_the_text_before_it_kept(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("providers.sse.MAX_EVENT_CHARS", 1000)
    # Without the bound the SDK's line reader would hold this line until the vendor ended the body.
    gemini.queue(Reply([sse(response(part("Before"))), b"data: " + b"x" * 3000], stall=20))
    answer = await ask(api)
    assert answer.text == "Before"
    assert answer.events[-2:] == [
        {"error": "gemini: the vendor's stream sent an event of over 1,000 bytes; it was cut off"},
        {"done": True},
    ]
    stored = await stored_reply(api, answer)
    assert (stored["content"], stored["status"]) == ("Before", "error")
    async with asyncio.timeout(5):  # the vendor, still stalling, sees the connection closed
        while gemini.disconnects == 0:
            await asyncio.sleep(0.02)


async def test_a_reply_may_run_and_pause_past_provider_timeout(
    serve: Serve, gemini: FakeGeminiVendor
) -> None:
    # PROVIDER_TIMEOUT would reach Google as X-Server-Timeout, the whole request's deadline, and
    # bound every read: a streamed reply is bounded by MAX_GENERATION_SECONDS and the watchdogs.
    gemini.queue(Reply([sse(response(part("Slow"))), sse(response(part(" and steady")))], delay=0.6))
    async with serve(provider_timeout=0.3, max_generation_seconds=90) as http:
        answer = await ask(http)
        stored = await stored_reply(http, answer)
    assert answer.text == "Slow and steady"
    assert (stored["status"], stored["content"]) == ("complete", "Slow and steady")
    assert gemini.requests[-1].headers["x-server-timeout"] == "90"


async def test_vendor_silence_past_first_token_timeout_ends_the_stream_with_an_error_event(
    serve: Serve, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(Reply([], stall=5))
    body = {"provider": "gemini", "model": "gemini-2.5-flash", "messages": HI}
    async with serve(first_token_timeout=0.3) as http:
        detail, _ = await vendor_failure(http, body, 504)
    assert detail.startswith("gemini: ")
    assert "FIRST_TOKEN_TIMEOUT" in detail


async def test_stop_closes_the_upstream_stream(api: httpx.AsyncClient, gemini: FakeGeminiVendor) -> None:
    gemini.queue(Reply([sse(response(part("Thinking about it")))], stall=30))
    body = {
        "provider": "gemini",
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with asyncio.timeout(10), aconnect_sse(api, "POST", "/api/v1/chat", json=body) as source:
        events = source.aiter_sse()
        ids = [json.loads((await anext(events)).data) for _ in range(3)]
        stopped = await api.post(f"/api/v1/chat/{ids[1]['message_id']}/stop")
    assert stopped.status_code == 200
    assert (stopped.json()["status"], stopped.json()["content"]) == ("stopped", "Thinking about it")
    async with asyncio.timeout(5):
        while gemini.disconnects == 0:
            await asyncio.sleep(0.02)


async def test_imagen_images_are_saved_streamed_and_stored(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor, upload_dir: Path
) -> None:
    answer = await ask(
        api,
        "A watercolor fox in a snowy forest",
        model="imagen-4.0-generate-001",
        imagen_number_of_images=2,
        imagen_aspect_ratio="16:9",
        imagen_image_size="1K",
        imagen_person_generation="allow_adult",
    )
    request = gemini.last
    assert request.path == "/v1beta/models/imagen-4.0-generate-001:predict"
    assert request.body == {
        "instances": [{"prompt": "A watercolor fox in a snowy forest"}],
        "parameters": {
            "sampleCount": 2,
            "aspectRatio": "16:9",
            "sampleImageSize": "1K",
            "personGeneration": "allow_adult",
            "includeRaiReason": True,
        },
    }
    [images] = [e["images"] for e in answer.events if "images" in e]
    assert len(images) == 1 and images[0].startswith("/uploads/") and images[0].endswith(".jpg")
    saved = upload_dir / images[0].removeprefix("/uploads/")
    assert saved.read_bytes()[:2] == b"\xff\xd8"
    assert (await api.get(images[0])).content == saved.read_bytes()
    assert (await stored_reply(api, answer))["images"] == images


async def test_images_an_image_model_sends_inline_are_saved_streamed_and_stored(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor, upload_dir: Path
) -> None:
    image = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    gemini.queue(Reply([sse(response(part("Here is your cat:"))), sse(response(image, finish="STOP"))]))
    answer = await ask(api, "Draw a cat", model="gemini-2.5-flash-image")
    assert answer.text == "Here is your cat:"
    [images] = [e["images"] for e in answer.events if "images" in e]
    assert len(images) == 1 and images[0].startswith("/uploads/") and images[0].endswith(".png")
    assert (upload_dir / images[0].removeprefix("/uploads/")).read_bytes() == PNG
    assert (await api.get(images[0])).content == PNG
    stored = await stored_reply(api, answer)
    assert (stored["status"], stored["images"]) == ("complete", images)


async def test_imagen_with_every_image_filtered_says_why(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.queue(
        Reply(body={"predictions": [{"raiFilteredReason": "The prompt violates the usage guidelines."}]})
    )
    answer = await ask(api, model="imagen-4.0-generate-001")
    assert answer.status == 200
    assert answer.events[-2:] == [
        {"error": "gemini: image blocked (The prompt violates the usage guidelines.)"},
        {"done": True},
    ]


async def test_media_are_sent_as_inline_data_or_file_data(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor, upload_dir: Path
) -> None:
    (upload_dir / "cat.png").write_bytes(PNG)
    data_url = "data:audio/wav;base64," + base64.b64encode(b"RIFFfake").decode()
    message = {
        "role": "user",
        "content": "What is this?",
        "images": ["/uploads/cat.png", "https://example.com/dog.webp"],
        "audios": [data_url],
    }
    answer = await ask(api, messages=[message])
    assert answer.status == 200
    assert gemini.last.body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"data": base64.b64encode(PNG).decode(), "mimeType": "image/png"}},
        {"fileData": {"fileUri": "https://example.com/dog.webp", "mimeType": "image/webp"}},
        {"inlineData": {"data": base64.b64encode(b"RIFFfake").decode(), "mimeType": "audio/wav"}},
    ]


async def test_pdfs_are_sent_as_inline_or_file_data(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor, upload_dir: Path
) -> None:
    document = samples.pdf()
    (upload_dir / "report.pdf").write_bytes(document)
    message = {
        "role": "user",
        "content": "Summarise.",
        "documents": ["/uploads/report.pdf", "https://example.com/paper"],
    }
    answer = await ask(api, messages=[message])
    assert answer.status == 200
    assert gemini.last.body["contents"][0]["parts"] == [
        {"text": "Summarise."},
        # The SDK sends bytes as URL-safe base64.
        {"inlineData": {"data": base64.urlsafe_b64encode(document).decode(), "mimeType": "application/pdf"}},
        # No extension to go by: a document URL is taken to be a PDF.
        {"fileData": {"fileUri": "https://example.com/paper", "mimeType": "application/pdf"}},
    ]


async def test_gif_is_refused_before_anything_is_stored(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor, upload_dir: Path
) -> None:
    (upload_dir / "spin.gif").write_bytes(b"GIF89a")
    answer = await ask(api, messages=[{"role": "user", "content": "?", "images": ["/uploads/spin.gif"]}])
    assert answer.status == 422
    assert "Provider 'gemini' (Gemini) takes image only as " in answer.json["detail"]
    assert answer.json["detail"].endswith("not image/gif")
    assert gemini.requests == []
    assert (await api.get("/api/v1/sessions")).json() == []


async def test_models_are_listed_from_the_vendor(api: httpx.AsyncClient, gemini: FakeGeminiVendor) -> None:
    listed = (await api.get("/api/v1/models", params={"provider": "gemini"})).json()
    assert [(m["id"], m["name"], m["context_length"]) for m in listed] == [
        ("gemini-2.5-flash", "Gemini 2.5 Flash", 1048576),
        ("imagen-4.0-generate-001", "Imagen 4", 480),
    ]
    assert gemini.model_requests == 1


async def test_model_list_falls_back_when_the_key_is_refused(
    api: httpx.AsyncClient, gemini: FakeGeminiVendor
) -> None:
    gemini.models_status = 403
    listed = (await api.get("/api/v1/models", params={"provider": "gemini"})).json()
    assert listed[0]["id"] == "gemini-2.5-flash" and all(m["fallback"] for m in listed)


@pytest.mark.parametrize(
    ("model", "profile"),
    [
        ("gemini-2.5-flash", ModelProfile()),
        ("models/gemini-3-pro-preview", ModelProfile()),
        ("imagen-4.0-generate-001", ModelProfile(imagen=True)),
        ("models/imagen-3.0-generate-002", ModelProfile(imagen=True)),
    ],
)
def test_profile_for_model_ids(model: str, profile: ModelProfile) -> None:
    assert profile_for(model) == profile
