"""The OpenAI-compatible front door (/v1), driven by the official openai SDK, sync and async."""

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from tests.accounts import required, secret, sign_up
from tests.conftest import ServeApp, SettingsFactory
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream, wire

pytestmark = pytest.mark.timeout(30)

MODEL = "deepseek/deepseek-chat"
HI = [{"role": "user", "content": "hi"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
FAST = {"fast": ["groq/llama-3.3-70b-versatile", "cerebras/llama-3.3-70b"]}


def sdk(http: httpx.AsyncClient) -> openai.AsyncOpenAI:
    # The SDK always sends a bearer key; with no accounts, any key is accepted.
    return openai.AsyncOpenAI(
        base_url=f"{str(http.base_url).rstrip('/')}/v1", api_key="sk-any-key", max_retries=0, timeout=10
    )


def sync_sdk(http: httpx.AsyncClient) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{str(http.base_url).rstrip('/')}/v1", api_key="sk-any-key", max_retries=0, timeout=10
    )


async def session(http: httpx.AsyncClient, session_id: str | int) -> dict[str, Any]:
    response = await http.get(f"/api/v1/sessions/{session_id}")
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


async def test_the_async_sdk_streams_a_reply_with_its_usage_and_the_call_is_stored(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("Hello", " world")))
    async with sdk(client) as api:
        raw = await api.chat.completions.with_raw_response.create(
            model=MODEL, messages=HI, stream=True, stream_options={"include_usage": True}
        )
        chunks = [c async for c in raw.parse()]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello world"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, 7)
    assert raw.headers["X-Answered-By"] == "deepseek/deepseek-chat"
    sent = vendor.requests[-1].body
    assert sent["model"] == "deepseek-chat" and sent["messages"] == HI
    assert sent["stream_options"] == {"include_usage": True}
    detail = await session(client, raw.headers["X-Session-Id"])
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", "hi"),
        ("assistant", "Hello world"),
    ]
    reply = detail["messages"][1]
    assert reply["id"] == int(raw.headers["X-Message-Id"])
    assert (reply["status"], reply["provider"], reply["model"]) == ("complete", "deepseek", "deepseek-chat")
    assert reply["usage"]["total_tokens"] == 12
    assert reply["usage"]["cost"] == pytest.approx((5 * 0.27 + 7 * 1.10) / 1e6)


async def test_the_sync_sdk_gets_a_whole_completion(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("Hello", " world")))
    messages = [{"role": "system", "content": "Be brief."}, *HI]

    def call() -> Any:
        with sync_sdk(client) as api:
            return api.chat.completions.with_raw_response.create(
                model=MODEL, messages=messages, temperature=0.5
            )

    raw = await asyncio.to_thread(call)
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Hello world"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 12
    assert completion.model == "deepseek/deepseek-chat"
    sent = vendor.requests[-1].body
    assert sent["messages"] == messages and sent["temperature"] == 0.5
    detail = await session(client, raw.headers["X-Session-Id"])
    assert detail["system_prompt"] == "Be brief." and detail["title"] == "hi"


async def test_the_sync_sdk_streams_too(client: httpx.AsyncClient, vendor: FakeOpenAIVendor) -> None:
    vendor.queue(Reply(text_stream("a", "b", "c")))

    def call() -> list[Any]:
        with sync_sdk(client) as api:
            return list(api.chat.completions.create(model=MODEL, messages=HI, stream=True))

    chunks = await asyncio.to_thread(call)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abc"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.usage is None for c in chunks)  # include_usage was not asked for


@pytest.mark.parametrize("stream", [True, False])
async def test_tool_calls_go_to_the_vendor_and_come_back_in_openai_form(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    vendor.queue(Reply([wire("openai-tool-calls.sse")]))
    question = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]
    async with sdk(client) as api:
        if stream:
            chunks = [
                c
                async for c in await api.chat.completions.create(
                    model=MODEL, messages=question, tools=[WEATHER_TOOL], tool_choice="auto", stream=True
                )
            ]
            calls: dict[int, dict[str, str]] = {}
            for c in chunks:
                for piece in c.choices[0].delta.tool_calls or () if c.choices else ():
                    call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] += piece.id or ""
                    call["name"] += (piece.function and piece.function.name) or ""
                    call["arguments"] += (piece.function and piece.function.arguments) or ""
            finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
            made = [calls[i] for i in sorted(calls)]
        else:
            completion = await api.chat.completions.create(
                model=MODEL, messages=question, tools=[WEATHER_TOOL]
            )
            finish = completion.choices[0].finish_reason
            made = [
                {"id": t.id, "name": t.function.name, "arguments": t.function.arguments}
                for t in completion.choices[0].message.tool_calls or ()
            ]
    assert finish == "tool_calls"
    assert [(c["name"], json.loads(c["arguments"])) for c in made] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Tokyo"}),
    ]
    assert made[0]["id"] == "call_a1B2c3D4e5F6g7H8i9J0kLmN"
    stored = (await session(client, 1))["messages"][-1]
    assert [(c["index"], c["id"], c["function"]["name"]) for c in stored["tool_calls"]] == [
        (0, "call_a1B2c3D4e5F6g7H8i9J0kLmN", "get_weather"),
        (1, "call_Zy9Xw8Vu7Ts6Rq5Po4Nm3LkJ", "get_weather"),
    ]
    assert json.loads(stored["tool_calls"][1]["function"]["arguments"]) == {"city": "Tokyo"}
    sent = vendor.requests[-1].body
    assert sent["tools"] == [WEATHER_TOOL]
    assert sent.get("tool_choice") == ("auto" if stream else None)


async def test_tool_results_are_sent_to_the_vendor_as_the_client_wrote_them(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("Sunny in Paris.")))
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'},
    ]
    async with sdk(client) as api:
        completion = await api.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    assert completion.choices[0].message.content == "Sunny in Paris."
    assert vendor.requests[-1].body["messages"] == messages


async def test_reasoning_is_relayed_as_reasoning_content(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    stream = [sse(chunk(reasoning_content="Let me think.")), *text_stream("42")]
    vendor.queue(Reply(stream), Reply(list(stream)))
    async with sdk(client) as api:
        chunks = [c async for c in await api.chat.completions.create(model=MODEL, messages=HI, stream=True)]
        completion = await api.chat.completions.create(model=MODEL, messages=HI)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices
    )
    assert reasoning == "Let me think."
    assert (completion.choices[0].message.model_extra or {})["reasoning_content"] == "Let me think."
    assert completion.choices[0].message.content == "42"


@pytest.mark.parametrize("stream", [True, False])
async def test_a_fallback_answers_when_the_first_vendor_is_rate_limited(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, stream: bool
) -> None:
    vendor.queue(
        Reply(status=429, error={"error": {"message": "Rate limit reached"}}), Reply(text_stream("Hi!"))
    )
    async with serve(make_settings(model_aliases=FAST)) as http, sdk(http) as api:
        raw = await api.chat.completions.with_raw_response.create(model="fast", messages=HI, stream=stream)
        if stream:
            text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
        else:
            text = raw.parse().choices[0].message.content
        assert text == "Hi!"
        assert raw.headers["X-Answered-By"] == "cerebras/llama-3.3-70b"
        assert [r.body["model"] for r in vendor.requests] == ["llama-3.3-70b-versatile", "llama-3.3-70b"]
        detail = await session(http, raw.headers["X-Session-Id"])
    reply = detail["messages"][-1]
    assert (reply["provider"], reply["model"], reply["content"]) == ("cerebras", "llama-3.3-70b", "Hi!")


async def test_the_sync_sdk_gets_the_fallback_too(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(status=503), Reply(text_stream("From the second.")))
    async with serve(make_settings(model_aliases=FAST)) as http:

        def call() -> Any:
            with sync_sdk(http) as api:
                return api.chat.completions.create(model="fast", messages=HI)

        completion = await asyncio.to_thread(call)
    assert completion.choices[0].message.content == "From the second."
    assert completion.model == "cerebras/llama-3.3-70b"


async def test_when_every_fallback_is_rate_limited_the_sdk_raises_its_rate_limit_error(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    limited = {"error": {"message": "Rate limit reached for tokens"}}
    vendor.queue(Reply(status=429, error=limited), Reply(status=429, error=limited))
    async with serve(make_settings(model_aliases=FAST)) as http, sdk(http) as api:
        with pytest.raises(openai.RateLimitError) as raised:
            await api.chat.completions.create(model="fast", messages=HI, stream=True)
    assert raised.value.status_code == 429
    assert "cerebras: Rate limit reached for tokens" in raised.value.message
    assert len(vendor.requests) == 2


async def test_a_refused_request_is_not_retried_on_the_fallback(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(status=400, error={"error": {"message": "bad max_tokens"}}))
    async with serve(make_settings(model_aliases=FAST)) as http, sdk(http) as api:
        with pytest.raises(openai.BadRequestError) as raised:
            await api.chat.completions.create(model="fast", messages=HI)
    assert "groq: bad max_tokens" in raised.value.message
    assert len(vendor.requests) == 1


async def test_a_vendor_failing_repeatedly_is_skipped_and_shown_open_in_providers(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    settings = make_settings(model_aliases=FAST, circuit_breaker_failures=2, circuit_breaker_cooldown=60)
    async with serve(settings) as http, sdk(http) as api:
        for _ in range(2):
            vendor.queue(Reply(status=500), Reply(text_stream("ok")))
            await api.chat.completions.create(model="fast", messages=HI)
        vendor.requests.clear()
        vendor.queue(Reply(text_stream("skipped groq")))
        completion = await api.chat.completions.create(model="fast", messages=HI)
        providers = {p["id"]: p for p in (await http.get("/api/v1/providers")).json()}
    assert completion.choices[0].message.content == "skipped groq"
    assert [r.body["model"] for r in vendor.requests] == ["llama-3.3-70b"]
    assert providers["groq"]["circuit"] == "open" and providers["groq"]["failures"] == 2
    assert 0 < providers["groq"]["cooldown_remaining"] <= 60
    assert "groq:" in providers["groq"]["last_error"]
    assert (providers["cerebras"]["circuit"], providers["cerebras"]["failures"]) == ("closed", 0)


async def test_a_circuit_lets_a_trial_through_after_its_cooldown(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    settings = make_settings(model_aliases=FAST, circuit_breaker_failures=1, circuit_breaker_cooldown=0.2)
    async with serve(settings) as http, sdk(http) as api:
        vendor.queue(Reply(status=500), Reply(text_stream("second")))
        await api.chat.completions.create(model="fast", messages=HI)
        await asyncio.sleep(0.3)
        before = {p["id"]: p["circuit"] for p in (await http.get("/api/v1/providers")).json()}
        vendor.queue(Reply(text_stream("first again")))
        completion = await api.chat.completions.create(model="fast", messages=HI)
        after = {p["id"]: p["circuit"] for p in (await http.get("/api/v1/providers")).json()}
    assert before["groq"] == "half_open" and after["groq"] == "closed"
    assert completion.model == "groq/llama-3.3-70b-versatile"


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        ({"model": "nobody/x"}, 404, "model", "does not exist"),
        ({"model": "fastest"}, 404, "model", "aliases: none configured"),
        ({"temperature": 3}, 400, "temperature", "less than or equal to 2"),
        ({"n": 2}, 400, "n", "only n=1"),
        ({"messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role", "Input should be"),
        ({"messages": []}, 400, "messages", "at least 1"),
        (
            {"model": "anthropic/claude-sonnet-4-5", "tools": [WEATHER_TOOL]},
            400,
            "tools",
            "cannot take tools",
        ),
        ({"metadata": {"session_id": "abc"}}, 400, "metadata", "metadata.session_id"),
    ],
)
async def test_bad_requests_answer_in_openai_error_shape(
    client: httpx.AsyncClient,
    vendor: FakeOpenAIVendor,
    body: dict[str, Any],
    status: int,
    param: str,
    words: str,
) -> None:
    response = await client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI, **body})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"], error
    assert error["type"] == "invalid_request_error"
    assert vendor.requests == []
    assert (await client.get("/api/v1/sessions")).json() == []


async def test_a_body_that_is_not_json_is_a_400_in_openai_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "parse the JSON body" in response.json()["error"]["message"]


async def test_an_unknown_model_raises_the_sdks_not_found_error(client: httpx.AsyncClient) -> None:
    async with sdk(client) as api:
        with pytest.raises(openai.NotFoundError) as raised:
            await api.chat.completions.create(model="gpt-nothing", messages=HI)
    assert raised.value.code == "model_not_found"


async def test_a_call_naming_a_session_continues_it(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("First answer")), Reply(text_stream("Second answer")))
    async with sdk(client) as api:
        raw = await api.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
        session_id = raw.headers["X-Session-Id"]
        follow_up = [
            *HI,
            {"role": "assistant", "content": "First answer"},
            {"role": "user", "content": "more"},
        ]
        again = await api.chat.completions.with_raw_response.create(
            model=MODEL, messages=follow_up, extra_headers={"X-Session-Id": session_id}
        )
    assert again.headers["X-Session-Id"] == session_id
    assert vendor.requests[-1].body["messages"] == follow_up
    detail = await session(client, session_id)
    assert [m["content"] for m in detail["messages"]] == ["hi", "First answer", "more", "Second answer"]
    assert len((await client.get("/api/v1/sessions")).json()) == 1


async def test_metadata_names_a_session_too_and_an_unknown_one_is_a_404(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    async with sdk(client) as api:
        raw = await api.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
        session_id = raw.headers["X-Session-Id"]
        again = await api.chat.completions.with_raw_response.create(
            model=MODEL, messages=HI, metadata={"session_id": session_id}
        )
        with pytest.raises(openai.NotFoundError) as raised:
            await api.chat.completions.create(
                model=MODEL, messages=HI, extra_headers={"X-Session-Id": "99999"}
            )
    assert again.headers["X-Session-Id"] == session_id
    assert "Session 99999 not found" in raised.value.message
    assert len((await session(client, session_id))["messages"]) == 4


async def test_a_client_that_drops_the_stream_leaves_the_whole_reply_stored(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("one", " two", " three", " four"), delay=0.1))
    body = {"model": MODEL, "messages": HI, "stream": True}
    async with asyncio.timeout(10), client.stream("POST", "/v1/chat/completions", json=body) as response:
        message_id = response.headers["X-Message-Id"]
        session_id = response.headers["X-Session-Id"]
        async for line in response.aiter_lines():
            if line.startswith("data:") and '"content":"one"' in line:
                break
    async with asyncio.timeout(10):
        while (reply := (await session(client, session_id))["messages"][-1])["status"] == "streaming":
            await asyncio.sleep(0.05)
    assert (reply["status"], reply["content"], reply["id"]) == (
        "complete",
        "one two three four",
        int(message_id),
    )
    # Our own API resumes it, as any reply: its events, from the start.
    resumed = await client.get(f"/api/v1/chat/{message_id}/stream")
    events = [json.loads(line[5:]) for line in resumed.text.splitlines() if line.startswith("data:")]
    assert "".join(e.get("content", "") for e in events) == "one two three four"


async def test_a_vendor_failing_mid_stream_ends_the_sdk_stream_with_an_error(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply([sse(chunk("partial")), sse({"error": {"message": "upstream broke"}})]))
    async with sdk(client) as api:
        received: list[str] = []
        with pytest.raises(openai.APIError) as raised:
            async for c in await api.chat.completions.create(model=MODEL, messages=HI, stream=True):
                received.append(c.choices[0].delta.content or "")
    assert "".join(received) == "partial"
    assert "upstream broke" in raised.value.message


async def test_with_storing_off_calls_are_answered_and_leave_no_session(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("not kept")), Reply(text_stream("nor this")))
    async with serve(make_settings(store_gateway_calls=False)) as http, sdk(http) as api:
        raw = await api.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
        streamed = [c async for c in await api.chat.completions.create(model=MODEL, messages=HI, stream=True)]
        sessions = (await http.get("/api/v1/sessions")).json()
    assert raw.parse().choices[0].message.content == "not kept"
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "nor this"
    assert "X-Session-Id" not in raw.headers
    assert sessions == []


async def test_the_model_list_names_provider_models_and_aliases(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    async with serve(make_settings(model_aliases=FAST)) as http, sdk(http) as api:
        models = [m async for m in api.models.list()]
    ids = {m.id for m in models}
    vendor_models = json.loads(wire("openai-models.json"))["data"]
    assert f"deepseek/{vendor_models[0]['id']}" in ids
    assert "fast" in ids
    assert all(m.object == "model" for m in models)


async def test_a_model_is_retrieved_by_its_id_and_an_unknown_one_is_the_sdks_not_found_error(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    listed = json.loads(wire("openai-models.json"))["data"][0]["id"]
    async with serve(make_settings(model_aliases=FAST)) as http, sdk(http) as api:
        found = await api.models.retrieve(f"deepseek/{listed}")
        alias = await api.models.retrieve("fast")
        with pytest.raises(openai.NotFoundError) as unlisted:
            await api.models.retrieve("deepseek/no-such-model")
        with pytest.raises(openai.NotFoundError) as unknown:
            await api.models.retrieve("nobody/model")
    assert (found.id, found.object, found.owned_by) == (f"deepseek/{listed}", "model", "deepseek")
    assert (alias.id, alias.owned_by) == ("fast", "alias")
    assert unlisted.value.code == unknown.value.code == "model_not_found"
    assert "deepseek/no-such-model" in unlisted.value.message


async def test_a_fallback_answers_when_the_first_vendor_times_out(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("too late"), wait=2), Reply(text_stream("in time")))
    async with serve(make_settings(model_aliases=FAST, provider_timeout=0.5)) as http, sdk(http) as api:
        raw = await api.chat.completions.with_raw_response.create(model="fast", messages=HI)
    assert raw.parse().choices[0].message.content == "in time"
    assert raw.headers["X-Answered-By"] == "cerebras/llama-3.3-70b"


async def test_a_fallback_answers_when_the_first_vendor_cannot_be_reached(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    nowhere = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there
    vendor.queue(Reply(text_stream("reached")))
    async with serve(make_settings(model_aliases=FAST, groq_base_url=nowhere)) as http, sdk(http) as api:
        completion = await api.chat.completions.create(model="fast", messages=HI, stream=False)
        providers = {p["id"]: p for p in (await http.get("/api/v1/providers")).json()}
    assert completion.choices[0].message.content == "reached"
    assert (
        providers["groq"]["failures"] == 1 and "could not reach the vendor" in providers["groq"]["last_error"]
    )


async def test_a_reply_of_tool_calls_is_replayed_whole_after_a_restart(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply([wire("openai-tool-calls.sse")]))
    settings = make_settings()
    async with serve(settings) as http, sdk(http) as api:
        raw = await api.chat.completions.with_raw_response.create(
            model=MODEL, messages=HI, tools=[WEATHER_TOOL]
        )
    # A new process has no log of it in memory: the resume stream is rebuilt from the stored row.
    async with serve(settings) as http:
        resumed = await http.get(f"/api/v1/chat/{raw.headers['X-Message-Id']}/stream")
    events = [json.loads(line[5:]) for line in resumed.text.splitlines() if line.startswith("data:")]
    calls = next(e["tool_calls"] for e in events if "tool_calls" in e)
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("get_weather", '{"city": "Paris"}'),
        ("get_weather", '{"city": "Tokyo"}'),
    ]
    assert events[-1] == {"done": True}


async def test_parameters_a_vendor_does_not_take_are_left_out_and_named(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    async with sdk(client) as api:
        raw = await api.chat.completions.with_raw_response.create(
            model="groq/llama-3.3-70b-versatile",
            messages=HI,
            temperature=0.3,
            extra_body={"top_k": 5, "thinking": {"type": "enabled"}},
        )
    sent = vendor.requests[-1].body
    assert sent["temperature"] == 0.3 and "top_k" not in sent and "thinking" not in sent
    assert raw.headers["X-Ignored-Parameters"] == "thinking, top_k"


# --- accounts ------------------------------------------------------------------------------------


async def personal_key(http: httpx.AsyncClient, name: str) -> str:
    owner = await sign_up(http, name)
    made = await http.post("/auth/api-keys", json={"name": "sdk"}, headers=owner.headers)
    assert made.status_code == 201, made.text
    return secret(made.json()["key"])


async def test_with_accounts_the_sdk_calls_with_a_personal_key_and_the_session_is_that_accounts(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    async with serve(make_settings(**required())) as http:
        ada, bob = await personal_key(http, "ada"), await personal_key(http, "bob")
        base = f"{str(http.base_url).rstrip('/')}/v1"
        async with openai.AsyncOpenAI(base_url=base, api_key=ada, max_retries=0, timeout=10) as api:
            raw = await api.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
        session_id = raw.headers["X-Session-Id"]
        assert raw.parse().choices[0].message.content == "Hello world"
        mine = await http.get(f"/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {ada}"})
        theirs = await http.get(f"/api/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {bob}"})
        assert (mine.status_code, theirs.status_code) == (200, 404)
        # Bob cannot continue Ada's session through the front door either: it is not found.
        async with openai.AsyncOpenAI(base_url=base, api_key=bob, max_retries=0, timeout=10) as api:
            with pytest.raises(openai.NotFoundError) as missing:
                await api.chat.completions.create(
                    model=MODEL, messages=HI, extra_headers={"X-Session-Id": session_id}
                )
        assert f"Session {session_id} not found" in str(missing.value)
        usage = await http.get("/api/v1/usage", headers={"Authorization": f"Bearer {bob}"})
        assert usage.json()["totals"]["requests"] == 0
    assert len(vendor.requests) == 1


@pytest.mark.parametrize("key", ["sk-any-key", "lk-not-a-key-that-was-issued"])
async def test_with_accounts_a_call_without_a_valid_key_is_a_401_in_openais_shape(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, key: str
) -> None:
    async with serve(make_settings(**required())) as http:
        base = f"{str(http.base_url).rstrip('/')}/v1"
        async with openai.AsyncOpenAI(base_url=base, api_key=key, max_retries=0, timeout=10) as api:
            with pytest.raises(openai.AuthenticationError) as refused:
                await api.chat.completions.create(model=MODEL, messages=HI)
        answer = await http.get("/v1/models")
    assert refused.value.status_code == 401
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
    assert vendor.requests == []
