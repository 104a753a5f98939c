"""Usage and cost: each reply's tokens, priced from the shipped table or an override, summed by /usage."""

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from config import Settings
from tests.conftest import ServeApp, SettingsFactory, chat_body
from tests.fakes import ollama_vendor
from tests.fakes.ollama_vendor import FakeOllamaVendor
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, sse, text_stream, usage_chunk

pytestmark = pytest.mark.timeout(30)

HI = [{"role": "user", "content": "hi"}]
# gateway/prices.yaml, USD per million tokens
DEEPSEEK_CHAT = (0.27, 1.10)


def sdk(http: httpx.AsyncClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{str(http.base_url).rstrip('/')}/v1", api_key="x", max_retries=0)


def priced(prompt: int, completion: int, price: tuple[float, float]) -> float:
    return (prompt * price[0] + completion * price[1]) / 1e6


def usage_stream(text: str, prompt: int, completion: int) -> Reply:
    return Reply([*text_stream(text, usage=False)[:-1], sse(usage_chunk(prompt, completion)), sse("[DONE]")])


async def usage(http: httpx.AsyncClient, **query: str) -> dict[str, Any]:
    response = await http.get("/api/v1/usage", params=query)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


async def test_usage_sums_the_front_door_and_the_chat_api_by_provider_and_model(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(usage_stream("a", 10, 20), usage_stream("b", 1, 2), usage_stream("c", 100, 50))
    async with sdk(client) as api:
        await api.chat.completions.create(model="deepseek/deepseek-chat", messages=HI)
        await api.chat.completions.create(model="deepseek/deepseek-chat", messages=HI, stream=True)
    # Through the chat API too; a model the table does not price counts as unpriced.
    response = await client.post("/api/v1/chat", json=chat_body("groq", stream=False, model="no-such-price"))
    assert response.status_code == 200
    by_model = await usage(client, group_by="model")
    groups = {g["key"]: g for g in by_model["groups"]}
    deepseek = groups["deepseek/deepseek-chat"]
    assert (deepseek["requests"], deepseek["prompt_tokens"], deepseek["completion_tokens"]) == (2, 11, 22)
    assert deepseek["cost"] == pytest.approx(priced(11, 22, DEEPSEEK_CHAT))
    assert (groups["groq/no-such-price"]["unpriced"], groups["groq/no-such-price"]["cost"]) == (1, 0)
    totals = by_model["totals"]
    assert (totals["requests"], totals["total_tokens"], totals["unpriced"]) == (3, 183, 1)
    by_provider = await usage(client, group_by="provider")
    assert [g["key"] for g in by_provider["groups"]] == ["groq", "deepseek"]  # most tokens first


async def test_a_reply_through_the_chat_api_is_priced_from_the_table(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(usage_stream("x", 1000, 1000))
    response = await client.post("/api/v1/chat", json=chat_body("deepseek", stream=False))
    assert response.status_code == 200
    report = await usage(client)
    assert report["totals"]["cost"] == pytest.approx(priced(1000, 1000, DEEPSEEK_CHAT))


async def test_usage_groups_by_session_and_by_user(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    async with sdk(client) as api:
        first = await api.chat.completions.with_raw_response.create(
            model="deepseek/deepseek-chat", messages=HI, user="alice"
        )
        await api.chat.completions.create(model="deepseek/deepseek-chat", messages=HI, user="bob")
        await api.chat.completions.create(
            model="deepseek/deepseek-chat",
            messages=HI,
            user="alice",
            extra_headers={"X-Session-Id": first.headers["X-Session-Id"]},
        )
    by_user = {g["key"]: g["requests"] for g in (await usage(client, group_by="user"))["groups"]}
    assert by_user == {"alice": 2, "bob": 1}
    by_session = {g["key"]: g["requests"] for g in (await usage(client, group_by="session"))["groups"]}
    assert by_session[int(first.headers["X-Session-Id"])] == 2 and sorted(by_session.values()) == [1, 2]


async def test_usage_is_bounded_by_from_and_to(client: httpx.AsyncClient, vendor: FakeOpenAIVendor) -> None:
    async with sdk(client) as api:
        await api.chat.completions.create(model="deepseek/deepseek-chat", messages=HI)
    assert (await usage(client, **{"from": "2000-01-01T00:00:00Z"}))["totals"]["requests"] == 1
    assert (await usage(client, to="2000-01-01T00:00:00"))["totals"]["requests"] == 0
    assert (await usage(client, **{"from": "2999-01-01T00:00:00+00:00"}))["totals"]["requests"] == 0


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"group_by": "colour"}, "group_by"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}, "must be before to"),
    ],
)
async def test_a_bad_usage_query_is_a_422_naming_it(
    client: httpx.AsyncClient, query: dict[str, str], words: str
) -> None:
    response = await client.get("/api/v1/usage", params=query)
    assert response.status_code == 422
    assert words in response.text


async def test_a_price_file_overrides_the_shipped_table(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor, tmp_path: Path
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("deepseek/deepseek-chat: {input: 1000, output: 2000}\nacme/x: {input: 1, output: 1}\n")
    vendor.queue(usage_stream("a", 3, 4))
    async with serve(make_settings(price_table_file=prices)) as http, sdk(http) as api:
        completion = await api.chat.completions.create(model="deepseek/deepseek-chat", messages=HI)
        report = await usage(http)
    assert completion.usage is not None
    assert (completion.usage.model_extra or {})["cost"] == pytest.approx(priced(3, 4, (1000, 2000)))
    assert report["totals"]["cost"] == pytest.approx(priced(3, 4, (1000, 2000)))


def test_a_malformed_price_file_stops_start_up_naming_it(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    from app_factory import create_app

    prices = tmp_path / "prices.yaml"
    prices.write_text("deepseek/deepseek-chat: {input: cheap}\n")
    with pytest.raises(ValueError, match="the price of 'deepseek/deepseek-chat' needs numbers"):
        create_app(make_settings(price_table_file=prices))


async def test_a_vendor_off_the_openai_wire_answers_the_sdk_with_usage_in_its_stream(
    make_settings: SettingsFactory, serve: ServeApp, ollama: FakeOllamaVendor
) -> None:
    ollama.queue(ollama_vendor.Reply(ollama_vendor.text_lines("Hi", " there")))
    messages = [{"role": "system", "content": "Be kind."}, *HI]
    async with serve(make_settings(ollama_base_url=ollama.url)) as http, sdk(http) as api:
        chunks = [
            c
            async for c in await api.chat.completions.create(
                model=f"ollama/{ollama_vendor.MODEL}",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                temperature=0.2,
            )
        ]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi there"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 31
    sent = ollama.last.body
    assert sent["messages"] == [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}]
    assert sent["options"]["temperature"] == 0.2


def test_model_aliases_take_yaml_and_a_single_target(tmp_path: Path) -> None:
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text("smart: openai/gpt-4.1\nfast: [groq/a]\n")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        model_aliases="fast: [groq/llama-3.3-70b, cerebras/llama-3.3-70b]",
        model_aliases_file=aliases,
    )
    assert settings.model_aliases == {"fast": ["groq/llama-3.3-70b", "cerebras/llama-3.3-70b"]}
    from gateway.routing import Target, load_aliases

    loaded = load_aliases(settings)
    assert loaded["smart"] == (Target("openai", "gpt-4.1"),)
    assert [t.name for t in loaded["fast"]] == ["groq/llama-3.3-70b", "cerebras/llama-3.3-70b"]


def test_an_alias_target_without_a_provider_stops_start_up_naming_it() -> None:
    from gateway.routing import load_aliases

    settings = Settings(_env_file=None, model_aliases='{"fast": ["llama"]}')  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="MODEL_ALIASES alias 'fast': 'llama' is not provider/model"):
        load_aliases(settings)


def test_model_aliases_that_are_not_yaml_stop_start_up_naming_the_variable() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="model_aliases\n  Value error, neither YAML nor JSON"):
        Settings(_env_file=None, model_aliases="fast: [groq/a")  # type: ignore[call-arg]
