"""POST /chat through every OpenAI-compatible vendor: relaying, storing, history, parameters, SSE framing."""

import asyncio
import gzip
import json
from typing import Any

import httpx
import pytest

from tests.conftest import MODELS, ChatCall, ChatReply, ServeApp, SettingsFactory, chat_body
from tests.fakes.openai_vendor import (
    FakeOpenAIVendor,
    Reply,
    chunk,
    completion,
    sse,
    text_stream,
    usage_chunk,
    whole_reply,
)

pytestmark = pytest.mark.timeout(30)

VENDORS = list(MODELS)
STREAM = [True, False]


async def session_detail(http: httpx.AsyncClient, session_id: int) -> dict[str, Any]:
    response = await http.get(f"/api/v1/sessions/{session_id}")
    assert response.status_code == 200
    detail: dict[str, Any] = response.json()
    return detail


def reply_text_and_session(reply: ChatReply, stream: bool) -> tuple[str, int]:
    """The assistant text and session id of a chat answer, whichever form it came in."""
    if stream:
        return reply.text, reply.events[0]["session_id"]
    return reply.json["message"]["content"], reply.json["session_id"]


# --- relaying and storing -----------------------------------------------------------------------


@pytest.mark.parametrize("stream", STREAM)
@pytest.mark.parametrize("provider", VENDORS)
async def test_a_reply_is_relayed_and_stored_with_its_provider_and_model(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, provider: str, stream: bool
) -> None:
    vendor.queue(Reply(text_stream("Hel", "lo", " there")))
    reply = await chat(client, chat_body(provider, "hi", stream=stream))
    assert reply.status == 200
    text, session_id = reply_text_and_session(reply, stream)
    assert text == "Hello there"
    assert vendor.requests[-1].body["model"] == MODELS[provider]
    assert vendor.requests[-1].body["messages"] == [{"role": "user", "content": "hi"}]
    user, stored = (await session_detail(client, session_id))["messages"]
    assert (user["role"], user["content"]) == ("user", "hi")
    assert stored["role"] == "assistant"
    assert stored["content"] == "Hello there"
    assert (stored["provider"], stored["model"]) == (provider, MODELS[provider])
    assert (stored["status"], stored["finish_reason"]) == ("complete", "stop")
    assert stored["usage"] == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


async def test_stream_events_come_in_order_session_message_deltas_usage_done(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    vendor.queue(Reply(text_stream("Hel", "lo")))
    reply = await chat(client, chat_body("mistral"))
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    session_id = reply.events[0]["session_id"]
    message_id = reply.events[1]["message_id"]
    assert reply.events == [
        {"session_id": session_id},
        {"message_id": message_id},
        {"content": "Hel"},
        {"content": "lo"},
        {"usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}},
        {"done": True},
    ]
    stored = (await session_detail(client, session_id))["messages"][-1]
    assert stored["id"] == message_id


async def test_each_sse_event_is_exactly_one_data_line_with_no_id_or_event_lines(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply([sse(chunk(reasoning_content="hmm")), *text_stream("line one\nline two", "é ✓")]))
    async with (
        asyncio.timeout(10),
        client.stream("POST", "/api/v1/chat", json=chat_body("deepseek")) as response,
    ):
        assert response.status_code == 200
        raw = await response.aread()
    assert raw.endswith(b"\n\n")
    frames = raw.split(b"\n\n")[:-1]
    events = []
    for frame in frames:
        if frame.startswith(b":"):  # keep-alive comments are allowed
            continue
        assert frame.startswith(b"data: "), frame
        assert b"\n" not in frame, frame  # one line: no id:, event: or second data: line
        events.append(json.loads(frame[len(b"data: ") :]))
    assert all(isinstance(e, dict) for e in events)
    assert [list(e) for e in events] == [
        ["session_id"],
        ["message_id"],
        ["reasoning"],
        ["content"],
        ["content"],
        ["usage"],
        ["done"],
    ]
    assert events[3] == {"content": "line one\nline two"}
    assert events[4] == {"content": "é ✓"}


async def test_unicode_line_separators_in_a_vendors_json_do_not_split_its_sse_lines(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    # JSON may carry U+2028, U+2029 and U+0085 unescaped (vendors writing raw UTF-8 do); SSE lines
    # end only at CR or LF, so they are text, not line breaks.
    text = "one\u2028two\u2029three\u0085four"
    vendor.queue(Reply(text_stream(text)))
    reply = await chat(client, chat_body("deepseek", "hi"))
    assert reply.status == 200
    assert reply.text == text
    stored = (await session_detail(client, reply.events[0]["session_id"]))["messages"][-1]
    assert (stored["status"], stored["content"]) == ("complete", text)


async def test_a_vendor_that_compresses_its_event_stream_is_read_through_the_compression(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    # The SDK asks for gzip; a vendor (or a proxy in front of it) may use it for the stream too.
    body = gzip.compress(b"".join(text_stream("Hello", " compressed", " world")))
    vendor.queue(Reply([body], headers={"content-encoding": "gzip"}))
    reply = await chat(client, chat_body("deepseek", "hi"))
    assert reply.status == 200
    assert reply.text == "Hello compressed world"
    stored = (await session_detail(client, reply.events[0]["session_id"]))["messages"][-1]
    assert (stored["status"], stored["content"]) == ("complete", "Hello compressed world")


async def test_http_proxy_carries_the_vendor_requests(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    # The vendor's host does not resolve: only a request sent through the proxy reaches anything.
    # The fake vendor stands in for the proxy and answers the absolute-form request itself.
    proxy = vendor.server.url  # type: ignore[attr-defined]
    settings = make_settings(deepseek_base_url="http://vendor.invalid/v1", http_proxy=proxy)
    async with serve(settings) as http:
        reply = await chat(http, chat_body("deepseek", "hi"))
    assert reply.status == 200
    assert reply.text == "Hello world"
    assert vendor.requests[-1].headers["host"] == "vendor.invalid"


async def test_stream_false_returns_the_stored_assistant_message(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    reply = await chat(client, chat_body("groq", "hi", stream=False))
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert set(reply.json) == {"session_id", "message"}
    stored = (await session_detail(client, reply.json["session_id"]))["messages"][-1]
    assert reply.json["message"] == stored
    assert stored["content"] == "Hello world"


@pytest.mark.parametrize("stream", STREAM)
async def test_the_stored_reply_keeps_reasoning_citations_finish_reason_and_usage(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, stream: bool
) -> None:
    citation = {
        "type": "url_citation",
        "url_citation": {
            "url": "https://example.com/a",
            "title": "Source A",
            "content": "quoted",
            "start_index": 0,
        },
    }
    vendor.queue(
        Reply(
            [
                sse(chunk(reasoning_content="Let me ")),
                sse(chunk(reasoning_content="think.")),
                sse(chunk("Answer")),
                sse(chunk(" here", annotations=[citation])),
                sse(chunk(finish_reason="length")),
                sse(usage_chunk(11, 3)),
                sse("[DONE]"),
            ]
        )
    )
    reply = await chat(client, chat_body("deepseek", stream=stream))
    assert reply.status == 200
    _, session_id = reply_text_and_session(reply, stream)
    stored = (await session_detail(client, session_id))["messages"][-1]
    source = {"title": "Source A", "url": "https://example.com/a", "content": "quoted"}
    assert stored["content"] == "Answer here"
    assert stored["thought_process"] == "Let me think."
    assert stored["search_results"] == [source]
    assert stored["finish_reason"] == "length"
    assert stored["usage"] == {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    assert stored["status"] == "complete"
    assert (stored["provider"], stored["model"]) == ("deepseek", "deepseek-chat")
    if stream:
        assert reply.reasoning == "Let me think."
        assert {"search_results": [source]} in reply.events


@pytest.mark.parametrize("stream", STREAM)
async def test_a_reply_sent_whole_instead_of_streamed_is_read_like_a_stream(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, stream: bool
) -> None:
    # A vendor that ignores `stream: true`, keeps the request alive with blank lines, then answers
    # one chat.completion: its message goes through the same mapping as a stream's deltas.
    citation = {"type": "url_citation", "url_citation": {"url": "https://example.com/a", "title": "A"}}
    usage = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13, "queue_time": 0.01}
    body = completion(
        "<think>Weighing it</think>The answer", annotations=[citation], finish_reason="length", usage=usage
    )
    vendor.queue(whole_reply(body))
    reply = await chat(client, chat_body("groq", stream=stream))
    assert reply.status == 200
    _, session_id = reply_text_and_session(reply, stream)
    source = {"title": "A", "url": "https://example.com/a", "content": ""}
    if stream:
        assert (reply.text, reply.reasoning) == ("The answer", "Weighing it")
        assert {"search_results": [source]} in reply.events
    stored = (await session_detail(client, session_id))["messages"][-1]
    assert (stored["content"], stored["thought_process"]) == ("The answer", "Weighing it")
    assert stored["search_results"] == [source]
    assert (stored["finish_reason"], stored["status"]) == ("length", "complete")
    assert stored["usage"] == usage


# --- sessions made and continued by chat --------------------------------------------------------


TITLES = [
    ("hello", "My Chat", "My Chat"),
    ("What is the capital of France?", None, "What is the capital of France?"),
    ("  spaced\n\nout   words ", None, "spaced out words"),
    ("x" * 50, None, "x" * 50),
    ("x" * 51, None, "x" * 47 + "..."),
    ("", None, "New Chat"),
]


async def test_a_new_chats_title_is_the_given_one_or_the_first_message_shortened_to_50(
    client: httpx.AsyncClient, chat: ChatCall
) -> None:
    # One app for the whole table: each row is a new chat, so a new session.
    for content, title, expected in TITLES:
        extra = {"title": title} if title else {}
        reply = await chat(client, chat_body("deepseek", content, stream=False, **extra))
        assert reply.status == 200, (content, reply.json)
        assert (await session_detail(client, reply.json["session_id"]))["title"] == expected, content


@pytest.mark.parametrize("stream", STREAM)
async def test_a_new_chat_creates_a_session_titled_from_the_first_message(
    client: httpx.AsyncClient, chat: ChatCall, stream: bool
) -> None:
    content = "Plan a three day trip to Lisbon with a focus on food and old trams please"
    reply = await chat(client, chat_body("deepseek", content, stream=stream))
    assert reply.status == 200
    _, session_id = reply_text_and_session(reply, stream)
    detail = await session_detail(client, session_id)
    assert detail["title"] == content[:47] + "..."
    assert (detail["provider"], detail["model"]) == ("deepseek", "deepseek-chat")
    listed = (await client.get("/api/v1/sessions")).json()
    assert [(s["id"], s["title"], s["message_count"]) for s in listed] == [(session_id, detail["title"], 2)]


@pytest.mark.parametrize(("provider", "stream"), [("openai", True), ("mistral", False)])
async def test_an_existing_session_sends_its_stored_history_to_the_vendor(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, provider: str, stream: bool
) -> None:
    vendor.queue(Reply(text_stream("Paris.")), Reply(text_stream("About 2 million.")))
    first = await chat(client, chat_body(provider, "Capital of France?", stream=stream))
    _, session_id = reply_text_and_session(first, stream)
    second = await chat(client, chat_body(provider, "Population?", stream=stream, session_id=session_id))
    assert second.status == 200
    text, same_session = reply_text_and_session(second, stream)
    assert (text, same_session) == ("About 2 million.", session_id)
    assert vendor.requests[-1].body["messages"] == [
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "Population?"},
    ]
    assert (await session_detail(client, session_id))["message_count"] == 4


async def test_the_sessions_system_prompt_goes_first(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    created = await client.post(
        "/api/v1/sessions",
        json={
            "title": "Pirate",
            "provider": "deepseek",
            "model": "deepseek-chat",
            "system_prompt": "Talk like a pirate.",
        },
    )
    session_id = created.json()["id"]
    reply = await chat(client, chat_body("deepseek", "hello", stream=False, session_id=session_id))
    assert reply.status == 200
    assert vendor.requests[-1].body["messages"] == [
        {"role": "system", "content": "Talk like a pirate."},
        {"role": "user", "content": "hello"},
    ]


async def test_the_requests_system_prompt_overrides_the_sessions(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    first = await chat(client, chat_body("deepseek", "one", stream=False, system_prompt="Be brief."))
    session_id = first.json["session_id"]
    assert vendor.requests[-1].body["messages"][0] == {"role": "system", "content": "Be brief."}
    await chat(client, chat_body("deepseek", "two", stream=False, session_id=session_id))
    assert vendor.requests[-1].body["messages"][0] == {"role": "system", "content": "Be brief."}
    await chat(
        client, chat_body("deepseek", "three", stream=False, session_id=session_id, system_prompt="Be long.")
    )
    sent = vendor.requests[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "Be long."}
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "assistant", "user"]


async def test_a_failed_reply_is_not_sent_back_as_history(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    vendor.queue(Reply(status=500, error={"error": {"message": "boom"}}))
    failed = await client.post("/api/v1/chat", json=chat_body("deepseek", "first try", stream=False))
    assert failed.status_code == 502
    session_id = (await client.get("/api/v1/sessions")).json()[0]["id"]
    reply = await chat(client, chat_body("deepseek", "second try", stream=False, session_id=session_id))
    assert reply.status == 200
    sent = vendor.requests[-1].body["messages"]
    assert [m for m in sent if m["role"] == "assistant"] == []
    assert sent[-1] == {"role": "user", "content": "second try"}


async def test_message_provider_and_model_override_the_sessions_for_one_message(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    async with serve(make_settings(groq_api_key="groq-key")) as http:
        first = await chat(http, chat_body("deepseek", "one"))
        session_id = first.events[0]["session_id"]
        body = chat_body("deepseek", "two", session_id=session_id)
        second = await chat(http, body | {"message_provider": "groq", "message_model": "qwen/qwen3-32b"})
        assert second.status == 200
        detail = await session_detail(http, session_id)
    assert vendor.requests[-1].body["model"] == "qwen/qwen3-32b"
    assert vendor.requests[-1].headers["authorization"] == "Bearer groq-key"
    stored = detail["messages"][-1]
    assert (stored["provider"], stored["model"]) == ("groq", "qwen/qwen3-32b")
    assert (detail["provider"], detail["model"]) == ("deepseek", "deepseek-chat")
    assert (detail["messages"][1]["provider"], detail["messages"][1]["model"]) == (
        "deepseek",
        "deepseek-chat",
    )


async def test_a_user_message_with_images_is_sent_as_content_parts_and_stored(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    body = chat_body("openai", stream=False, image_detail="high")
    body["messages"][0] |= {"content": "What is this?", "images": ["https://example.com/cat.png"]}
    reply = await chat(client, body)
    assert reply.status == 200
    assert vendor.requests[-1].body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
            ],
        }
    ]
    assert "image_detail" not in vendor.requests[-1].body
    user = (await session_detail(client, reply.json["session_id"]))["messages"][0]
    assert user["images"] == ["https://example.com/cat.png"]


# --- parameters ---------------------------------------------------------------------------------

# What every vendor gets when the client sends no setting at all.
BARE_BODY_KEYS = {provider: {"model", "messages", "stream", "stream_options"} for provider in VENDORS}
BARE_BODY_KEYS["mistral"] = {"model", "messages", "stream"}  # Mistral answers 422 to stream_options


@pytest.mark.parametrize("provider", VENDORS)
async def test_a_setting_the_client_did_not_send_is_never_forwarded(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, provider: str
) -> None:
    reply = await chat(client, chat_body(provider, stream=False))
    assert reply.status == 200
    assert "X-Ignored-Parameters" not in reply.headers
    body = vendor.requests[-1].body
    assert set(body) == BARE_BODY_KEYS[provider]
    assert body["stream"] is True
    for unsent in ("temperature", "max_tokens", "top_p", "stop", "frequency_penalty", "presence_penalty"):
        assert unsent not in body


@pytest.mark.parametrize(
    ("provider", "stream"), [("openai", True), ("deepseek", False), ("groq", True), ("cerebras", False)]
)
async def test_sent_sampling_settings_are_forwarded_as_sent(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, provider: str, stream: bool
) -> None:
    settings = {"temperature": 0.2, "max_tokens": 64, "top_p": 0.9, "stop": ["END"], "presence_penalty": 0.5}
    reply = await chat(client, chat_body(provider, stream=stream, **settings))
    assert reply.status == 200
    body = vendor.requests[-1].body
    assert {key: body[key] for key in settings} == settings
    assert "frequency_penalty" not in body


@pytest.mark.parametrize("stream", STREAM)
async def test_settings_the_provider_does_not_take_are_dropped_and_named_in_a_header(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, stream: bool
) -> None:
    frontend_settings = {
        "temperature": 0.7,
        "top_k": 40,  # SiliconFlow only
        "safe_prompt": True,  # Mistral only
        "transforms": ["middle-out"],  # OpenRouter only
        "image_detail": "auto",  # the web client sends the media settings with every message
        "fps": 1,
        "video_detail": "low",
        "max_frames": 16,
    }
    reply = await chat(client, chat_body("deepseek", stream=stream, **frontend_settings))
    assert reply.status == 200
    ignored = reply.headers["X-Ignored-Parameters"].split(", ")
    assert ignored == sorted(["top_k", "safe_prompt", "transforms", "fps", "video_detail", "max_frames"])
    body = vendor.requests[-1].body
    for name in (*ignored, "image_detail"):
        assert name not in body
    assert body["temperature"] == 0.7


async def test_a_stop_sent_as_a_single_string_is_accepted_and_forwarded(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    reply = await chat(client, chat_body("openai", stream=False, stop="END"))
    assert reply.status == 200
    assert vendor.requests[-1].body["stop"] == "END"


async def test_settings_sent_as_null_are_not_forwarded(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall
) -> None:
    reply = await chat(client, chat_body("openai", stream=False, temperature=None, stop=None, top_k=None))
    assert reply.status == 200
    assert "X-Ignored-Parameters" not in reply.headers
    assert set(vendor.requests[-1].body) == BARE_BODY_KEYS["openai"]


# Out-of-range settings, each as (field, value); one app answers the whole table.
OUT_OF_RANGE = [
    ("temperature", 3),
    ("max_tokens", 0),
    ("thinking_budget", 50),
    ("top_logprobs", 21),
    ("repetition_penalty", 3),
    ("fps", 0),
]


async def test_an_out_of_range_setting_is_a_422_naming_the_field(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    for field, value in OUT_OF_RANGE:
        response = await client.post("/api/v1/chat", json=chat_body("openrouter", **{field: value}))
        assert response.status_code == 422, field
        assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
    assert vendor.requests == []
    assert (await client.get("/api/v1/sessions")).json() == []


INVALID_REQUESTS: list[tuple[dict[str, Any], list[object]]] = [
    ({"provider": "deepseek", "model": "deepseek-chat", "messages": []}, ["body", "messages"]),
    ({"model": "m", "messages": [{"content": "hi"}]}, ["body", "provider"]),
    ({"provider": "deepseek", "messages": [{"content": "hi"}]}, ["body", "model"]),
    (
        {"provider": "deepseek", "model": "m", "messages": [{"role": "robot", "content": "hi"}]},
        ["body", "messages", 0, "role"],
    ),
    (
        {"provider": "deepseek", "model": "m", "messages": [{"content": "hi"}], "session_id": "abc"},
        ["body", "session_id"],
    ),
]


async def test_an_invalid_chat_request_is_a_422_naming_the_field(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    for body, loc in INVALID_REQUESTS:
        response = await client.post("/api/v1/chat", json=body)
        assert response.status_code == 422, body
        assert [e["loc"] for e in response.json()["detail"]] == [loc]
    assert vendor.requests == []


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
async def test_a_setting_that_is_not_a_finite_number_is_a_422_naming_it(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, number: str
) -> None:
    # Not JSON, but Python's parser (and so the request's) reads these words as floats.
    body = json.dumps(chat_body("deepseek"))[:-1] + f', "temperature": {number}}}'
    response = await client.post("/api/v1/chat", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "temperature"]
    assert error["msg"] == "Input should be a finite number"
    assert vendor.requests == []


async def test_text_with_an_unpaired_surrogate_is_a_422_naming_where_and_nothing_is_stored(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    # Valid JSON, but half a UTF-16 pair is no character: no database or vendor can take it.
    body = json.dumps(chat_body("deepseek", content="smile \ud83d"), ensure_ascii=True)
    assert "\\ud83d" in body
    response = await client.post("/api/v1/chat", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["msg"] == "messages.0.content holds an unpaired surrogate, which is not text"
    assert vendor.requests == []
    assert (await client.get("/api/v1/sessions")).json() == []


# --- inline <think> tags ------------------------------------------------------------------------

# Vendors whose models may write their reasoning inline as <think>...</think> in the content.
THINK_TAGS = {
    "deepseek": True,
    "siliconflow": True,
    "groq": True,
    "cerebras": True,
    "nvidia": True,
    "openrouter": True,
    "openai": False,
    "grok": False,
    "mistral": False,
}
TAGGED = ["<thi", "nk>Weigh", "ing it", "</th", "ink>The ", "answer"]


@pytest.mark.parametrize("provider", VENDORS)
async def test_inline_think_tags_become_reasoning_where_the_vendor_uses_them(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, chat: ChatCall, provider: str
) -> None:
    vendor.queue(Reply(text_stream(*TAGGED)))
    reply = await chat(client, chat_body(provider))
    assert reply.status == 200
    stored = (await session_detail(client, reply.events[0]["session_id"]))["messages"][-1]
    if THINK_TAGS[provider]:
        assert (reply.text, reply.reasoning) == ("The answer", "Weighing it")
        assert (stored["content"], stored["thought_process"]) == ("The answer", "Weighing it")
    else:
        assert (reply.text, reply.reasoning) == ("".join(TAGGED), "")
        assert (stored["content"], stored["thought_process"]) == ("".join(TAGGED), None)
