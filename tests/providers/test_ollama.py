"""Ollama through the public HTTP API: the service's httpx2 client talks NDJSON to a fake Ollama server."""

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from app_factory import create_app
from tests.conftest import ChatReply, ServeApp, SettingsFactory, post_chat, vendor_failure
from tests.fakes.ollama_vendor import (
    MODEL,
    FakeOllamaVendor,
    Reply,
    chunk,
    error_line,
    line,
    text_lines,
)
from tests.fakes.openai_vendor import wire

pytestmark = pytest.mark.timeout(30)

SAMPLE_REQUEST = json.loads(wire("ollama-request.json"))
PNG = base64.b64decode(SAMPLE_REQUEST["messages"][0]["images"][0])


@pytest.fixture
async def api(
    make_settings: SettingsFactory, ollama: FakeOllamaVendor, serve: ServeApp
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(ollama_base_url=ollama.url)) as http:
        yield http


def body(content: str = "hi", **fields: Any) -> dict[str, Any]:
    return {
        "provider": "ollama",
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
        **fields,
    }


async def ask(http: httpx.AsyncClient, content: str = "hi", **fields: Any) -> ChatReply:
    return await post_chat(http, body(content, **fields))


async def last_message(http: httpx.AsyncClient, session_id: int) -> dict[str, Any]:
    detail = (await http.get(f"/api/v1/sessions/{session_id}")).json()
    message: dict[str, Any] = detail["messages"][-1]
    return message


# --- the reply ----------------------------------------------------------------------------------

SAMPLE_USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 19,
    "total_tokens": 31,
    "prompt_eval_count": 12,
    "eval_count": 19,
    "total_duration": 1203348583,
    "load_duration": 41295167,
    "prompt_eval_duration": 24573166,
    "eval_duration": 1115959084,
}


async def test_the_recorded_stream_is_relayed_as_reasoning_text_and_usage_and_stored(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    ollama.queue(Reply())  # ollama-chat.ndjson, byte for byte
    answer = await ask(api)
    assert answer.status == 200
    assert (answer.reasoning, answer.text) == ("The user says hello.", "Hello! How can I help?")
    assert answer.events[-2:] == [{"usage": SAMPLE_USAGE}, {"done": True}]
    stored = await last_message(api, answer.events[0]["session_id"])
    assert (stored["status"], stored["finish_reason"], stored["usage"]) == ("complete", "stop", SAMPLE_USAGE)
    assert (stored["content"], stored["thought_process"]) == (
        "Hello! How can I help?",
        "The user says hello.",
    )
    assert (ollama.last.path, ollama.last.body) == (
        "/api/chat",
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True},
    )


async def test_stream_false_collects_the_same_reply(api: httpx.AsyncClient, ollama: FakeOllamaVendor) -> None:
    answer = await ask(api, stream=False)
    assert answer.status == 200
    message = answer.json["message"]
    assert (message["content"], message["thought_process"]) == (
        "Hello! How can I help?",
        "The user says hello.",
    )
    assert message["usage"] == SAMPLE_USAGE
    assert ollama.last.body["stream"] is True  # one way to read a reply: the stream


TRICKY = 'Grüße, 世界 🌍🏳️‍🌈 — one\u2028two <b>&amp;</b> \\n "quoted"'


@pytest.mark.parametrize("split", [1, 2, 3, 5, 4096])
async def test_text_split_across_writes_inside_a_character_arrives_whole(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor, split: int
) -> None:
    # One write per byte cuts every multi-byte character; 4096 puts several lines in one write.
    pieces = [TRICKY[:9], TRICKY[9:14], TRICKY[14:]]
    lines = text_lines(*pieces, thinking=("思考中… ", "🤔"))
    assert b"\\u003cb\\u003e\\u0026amp;" in b"".join(lines)  # written with Go's escapes
    ollama.queue(Reply(lines, split=split))
    answer = await ask(api)
    assert (answer.text, answer.reasoning) == (TRICKY, "思考中… 🤔")
    assert (await last_message(api, answer.events[0]["session_id"]))["content"] == TRICKY


async def test_think_tags_in_the_content_become_reasoning(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    # A thinking model on a server that predates `think` writes its thoughts inline.
    ollama.queue(Reply(text_lines("<think>Let me", " see.</thi", "nk>The answer", " is 4.")))
    answer = await ask(api, "2+2?")
    assert (answer.reasoning, answer.text) == ("Let me see.", "The answer is 4.")


# --- the request --------------------------------------------------------------------------------


async def test_think_the_options_and_keep_alive_go_where_ollama_takes_them(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    options = {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 40,
        "min_p": 0.05,
        "repeat_penalty": 1.1,
        "seed": 7,
        "num_ctx": 4096,
        "num_predict": 256,
    }
    extra = {"frequency_penalty": 0.5, "image_detail": "auto", "reasoning_effort": "high"}
    answer = await ask(api, think="high", keep_alive="1h30m", stop="END", **options, **extra)
    assert answer.status == 200
    sent = ollama.last.body
    assert (sent["think"], sent["keep_alive"]) == ("high", "1h30m")
    assert sent["options"] == {**options, "stop": ["END"]}
    assert answer.headers["X-Ignored-Parameters"] == "frequency_penalty, image_detail, reasoning_effort"


@pytest.mark.parametrize(
    ("fields", "options"),
    [
        ({"max_tokens": 50}, {"num_predict": 50}),
        ({"max_tokens": 50, "num_predict": 20}, {"num_predict": 20}),
        ({"stop": ["a", "b"], "think": False, "keep_alive": -1}, {"stop": ["a", "b"]}),
    ],
)
async def test_max_tokens_is_num_predict_unless_that_is_sent(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor, fields: dict[str, Any], options: dict[str, Any]
) -> None:
    assert (await ask(api, **fields)).status == 200
    assert ollama.last.body["options"] == options
    for name in ("think", "keep_alive"):
        assert ollama.last.body.get(name) == fields.get(name)


async def test_a_turn_like_the_recorded_request_is_sent_as_it(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    uploaded = (await api.post("/api/v1/upload", files={"file": ("cat.png", PNG, "image/png")})).json()
    message = {"role": "user", "content": "what is in this image?", "images": [uploaded["url"]]}
    request = {**body(), "model": "llava:7b", "messages": [message]}
    answer = await post_chat(
        api, {**request, "think": False, "temperature": 0.7, "num_ctx": 8192, "keep_alive": "5m"}
    )
    assert answer.status == 200
    assert ollama.last.body == SAMPLE_REQUEST


async def test_the_system_prompt_goes_first_and_the_history_follows(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    first = await ask(api, "one", system_prompt="Be brief.")
    await ask(api, "two", session_id=first.events[0]["session_id"])
    assert ollama.last.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "two"},
    ]


async def test_an_image_as_a_data_url_travels_as_plain_base64_and_one_by_url_is_refused(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    message = {"role": "user", "content": "see", "images": [data_url]}
    assert (await post_chat(api, {**body(), "messages": [message]})).status == 200
    assert ollama.last.body["messages"][0]["images"] == [base64.b64encode(PNG).decode()]
    for kind, url, reason in [
        ("images", "https://example.org/cat.png", "cannot take image as a URL"),
        ("videos", data_url.replace("image/png", "video/mp4"), "does not accept video input"),
    ]:
        refused = await post_chat(
            api, {**body(), "messages": [{"role": "user", "content": "x", kind: [url]}]}
        )
        assert refused.status == 422
        assert reason in refused.json["detail"]
        assert "Provider 'ollama' (Ollama)" in refused.json["detail"]
    assert len(ollama.requests) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("think", "extreme"),
        ("think", 1),
        ("num_ctx", 0),
        ("num_predict", -3),
        ("repeat_penalty", 3),
        ("keep_alive", "5 minutes"),
        ("keep_alive", "5"),
        ("top_k", -2),
    ],
)
async def test_an_invalid_ollama_setting_is_a_422_naming_it(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor, field: str, value: Any
) -> None:
    answer = await ask(api, **{field: value})
    assert answer.status == 422
    assert {tuple(error["loc"][:2]) for error in answer.json["detail"]} == {("body", field)}
    assert not ollama.requests


# --- how replies end ----------------------------------------------------------------------------


async def test_done_reason_length_is_finish_reason_length_and_the_reply_can_be_continued(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    ollama.queue(Reply(text_lines("cut", done_reason="length")), Reply(text_lines(" off")))
    answer = await ask(api, num_predict=1)
    stored = await last_message(api, answer.events[0]["session_id"])
    assert (stored["status"], stored["finish_reason"]) == ("complete", "length")
    resumed = await api.post(f"/api/v1/chat/{stored['id']}/continue", json={"stream": False})
    assert resumed.status_code == 200
    assert (resumed.json()["message"]["content"], resumed.json()["message"]["finish_reason"]) == (
        "cut off",
        "stop",
    )


@pytest.mark.parametrize("stream", [False, True])
async def test_a_model_not_pulled_is_a_404_saying_ollama_pull(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor, stream: bool
) -> None:
    detail, _ = await vendor_failure(api, {**body(), "model": "mistral:7b", "stream": stream}, 404)
    assert (
        detail == 'ollama: model "mistral:7b" not found, try pulling it first (run `ollama pull mistral:7b`)'
    )


async def test_an_error_line_mid_stream_ends_the_reply_as_an_error_with_its_text(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    failure = "an error was encountered while running the model: CUDA error: out of memory"
    ollama.queue(Reply([line(chunk("Partial ")), line(chunk("answer")), error_line(failure)]))
    answer = await ask(api)
    assert answer.text == "Partial answer"
    assert answer.events[-2:] == [{"error": f"ollama: {failure}"}, {"done": True}]
    stored = await last_message(api, answer.events[0]["session_id"])
    assert (stored["status"], stored["content"], stored["error"]) == (
        "error",
        "Partial answer",
        f"ollama: {failure}",
    )


async def test_an_error_line_mid_stream_is_a_502_without_streaming(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    ollama.queue(Reply([line(chunk("Partial")), error_line("model runner has unexpectedly stopped")]))
    detail, answer = await vendor_failure(api, body(stream=False), 502)
    assert detail == "ollama: model runner has unexpectedly stopped"
    assert answer["provider"] == "ollama"


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply([line(chunk("Partial"))], drop=True), "the reply was cut off before its end"),
        (Reply([line(chunk("Partial"))]), "the reply ended before its last line (`done`)"),
        (Reply([line(chunk("Partial")), b"{not json\n"]), "unreadable reply from the vendor"),
        (
            Reply(status=500, error="llama runner process has terminated"),
            "llama runner process has terminated",
        ),
    ],
    ids=["dropped", "no-done-line", "not-json", "status-500"],
)
async def test_a_broken_stream_is_an_error_event_naming_ollama(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor, reply: Reply, reason: str
) -> None:
    ollama.queue(reply)
    answer = await ask(api)
    assert answer.events[-1] == {"done": True}
    assert answer.events[-2]["error"].startswith("ollama: ")
    assert reason in answer.events[-2]["error"]


# --- configured by answering --------------------------------------------------------------------


def unconfigured(url: str) -> str:
    return (
        f"Provider 'ollama' is not configured: no Ollama server answered at {url}/api/version: start one "
        "(`ollama serve`) or set the OLLAMA_BASE_URL environment variable to where one runs"
    )


async def configured(http: httpx.AsyncClient) -> bool:
    listed = (await http.get("/api/v1/providers")).json()
    return next(p["configured"] for p in listed if p["id"] == "ollama") is True


async def test_ollama_is_configured_while_its_server_answers_the_version_call(
    make_settings: SettingsFactory, ollama: FakeOllamaVendor, serve: ServeApp
) -> None:
    ollama.answering = False
    async with serve(make_settings(ollama_base_url=ollama.url)) as http:
        assert not await configured(http)
        refused = await ask(http)
        assert (refused.status, refused.json["detail"]) == (400, unconfigured(ollama.url))
        ollama.answering = True  # the server is started: the next request finds it
        assert (await ask(http)).status == 200
        assert await configured(http)
    assert len(ollama.requests) == 1


async def test_an_answer_is_kept_for_the_model_cache_ttl(
    make_settings: SettingsFactory, ollama: FakeOllamaVendor, serve: ServeApp
) -> None:
    async with serve(make_settings(ollama_base_url=ollama.url)) as http:
        for _ in range(3):
            assert await configured(http)
        assert (await ask(http)).status == 200
    assert ollama.version_requests == 1  # at start
    ollama.version_requests = 0
    async with serve(make_settings(ollama_base_url=ollama.url, model_cache_ttl=0)) as http:
        for _ in range(3):
            assert await configured(http)
    assert ollama.version_requests == 4  # at start, then every time


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never answers on them."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


async def test_start_up_does_not_wait_for_a_server_that_never_answers(
    make_settings: SettingsFactory, silent_port: int
) -> None:
    url = f"http://127.0.0.1:{silent_port}"
    app = create_app(make_settings(ollama_base_url=url))
    began = time.monotonic()
    async with app.router.lifespan_context(app):
        started = time.monotonic() - began
        registry = app.state.registry
        assert registry.get("deepseek").configured  # the others are there at once
        async with asyncio.timeout(5):
            await registry.refresh("ollama")  # the question asked at start, given up after 2 s
        assert not registry.known("ollama").configured
    assert started < 1.0


async def test_where_nothing_listens_ollama_is_not_configured_and_chats_say_so(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        async with serve(make_settings(ollama_base_url=url)) as http:
            assert not await configured(http)
            refused = await ask(http)
    assert (refused.status, refused.json["detail"]) == (400, unconfigured(url))


# --- models -------------------------------------------------------------------------------------


async def test_the_models_are_the_pulled_ones_with_their_details(
    api: httpx.AsyncClient, ollama: FakeOllamaVendor
) -> None:
    response = await api.get("/api/v1/models", params={"provider": "ollama"})
    assert response.status_code == 200
    tags = {entry["name"]: entry for entry in ollama.tags["models"]}
    models = response.json()
    assert [model["id"] for model in models] == ["qwen3:8b", "llava:7b"]
    for model in models:
        entry = tags[model["id"]]
        kept = {name: entry[name] for name in ("size", "modified_at", "digest")}
        assert model["details"] == {**entry["details"], **kept}
        assert (model["provider"], model["fallback"], model["name"]) == ("ollama", False, model["id"])
    assert [model["description"] for model in models] == [
        "qwen3, 8.2B, Q4_K_M, 5.2 GB",
        "llama, 7B, Q4_0, 4.7 GB",
    ]


async def test_without_a_server_the_models_are_the_fallback_list(
    make_settings: SettingsFactory, ollama: FakeOllamaVendor, serve: ServeApp
) -> None:
    ollama.answering = False
    async with serve(make_settings(ollama_base_url=ollama.url)) as http:
        models = (await http.get("/api/v1/models", params={"provider": "ollama"})).json()
    assert [(m["id"], m["fallback"]) for m in models] == [
        ("llama3.1:8b-instruct-q8_0", True),
        ("qwen3:8b", True),
        ("llava:7b", True),
    ]
    assert ollama.tags_requests == 0
