"""GET /health, GET /providers and GET /models: shapes, configuration, the model cache and its fallbacks."""

from datetime import UTC, datetime

import httpx
import pytest

from provider_registry import PROVIDERS
from tests.conftest import ServeApp, SettingsFactory
from tests.fakes.openai_vendor import FakeOpenAIVendor

pytestmark = pytest.mark.timeout(30)

OPENAI_COMPATIBLE = [
    "openai",
    "deepseek",
    "siliconflow",
    "groq",
    "mistral",
    "grok",
    "openrouter",
    "cerebras",
    "nvidia",
]
FAKE_MODEL_IDS = ["gpt-4.1-mini", "gpt-4o-audio-preview", "text-embedding-3-small"]  # openai-models.json


async def test_health_answers_ok_with_the_version_a_reachable_database_and_the_time(
    client: httpx.AsyncClient,
) -> None:
    before = datetime.now(UTC)
    response = await client.get("/health")
    assert response.status_code == 200
    health = response.json()
    stamp = datetime.fromisoformat(health.pop("timestamp"))
    assert health == {"status": "ok", "version": "1.0.0", "database": True, "response_code": 200}
    assert before <= stamp <= datetime.now(UTC)


# --- providers ----------------------------------------------------------------------------------


async def test_providers_are_a_bare_array_with_every_registered_provider(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/providers")
    assert response.status_code == 200
    providers = response.json()
    assert isinstance(providers, list)
    assert {p["id"] for p in providers} >= set(PROVIDERS)
    for provider in providers:
        assert {"id", "name", "description", "supported", "configured"} <= provider.keys()
        assert provider["name"] and isinstance(provider["name"], str)
        assert isinstance(provider["description"], str)
        assert provider["supported"] is True


async def test_providers_say_which_are_configured(make_settings: SettingsFactory, serve: ServeApp) -> None:
    async with serve(make_settings(deepseek_api_key=None, groq_api_key=None)) as http:
        response = await http.get("/api/v1/providers")
    assert response.status_code == 200
    configured = {p["id"]: p["configured"] for p in response.json()}
    assert configured["deepseek"] is False
    assert configured["groq"] is False
    assert configured["openai"] is True
    assert configured["mistral"] is True


async def test_a_vendor_declared_only_by_env_variables_is_listed_and_chats(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    extra = {"acme": {"api_key": "acme-key", "base_url": vendor.url}}
    async with serve(make_settings(extra_providers=extra)) as http:
        providers = (await http.get("/api/v1/providers")).json()
        body = {"provider": "acme", "model": "acme-1", "messages": [{"content": "hi"}], "stream": False}
        reply = await http.post("/api/v1/chat", json=body)
    acme = next(p for p in providers if p["id"] == "acme")
    assert acme["configured"] is True
    assert "ACME_BASE_URL" in acme["description"]
    assert reply.status_code == 200
    assert reply.json()["message"]["content"] == "Hello world"
    assert vendor.requests[-1].headers["authorization"] == "Bearer acme-key"


# --- models -------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["deepseek", "mistral", "nvidia"])
async def test_models_of_one_provider_come_from_the_vendors_list(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, provider: str
) -> None:
    response = await client.get("/api/v1/models", params={"provider": provider})
    assert response.status_code == 200
    models = response.json()
    assert [m["id"] for m in models] == FAKE_MODEL_IDS
    for model in models:
        assert model["provider"] == provider
        assert model["fallback"] is False
        assert {"id", "name", "provider", "description"} <= model.keys()
    assert vendor.model_requests == 1


async def test_models_without_a_provider_list_every_providers_models(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    response = await client.get("/api/v1/models")
    assert response.status_code == 200
    models = response.json()
    assert isinstance(models, list)
    assert {m["provider"] for m in models} >= set(OPENAI_COMPATIBLE)
    for provider in OPENAI_COMPATIBLE:
        assert [m["id"] for m in models if m["provider"] == provider] == FAKE_MODEL_IDS


async def test_models_of_an_unknown_provider_is_a_404_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/models", params={"provider": "nosuch"})
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "'nosuch'" in detail
    assert "deepseek" in detail


async def test_the_model_list_is_cached_so_a_second_call_does_not_ask_the_vendor(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    first = await client.get("/api/v1/models", params={"provider": "groq"})
    vendor.models = {"object": "list", "data": [{"id": "changed", "object": "model", "owned_by": "x"}]}
    second = await client.get("/api/v1/models", params={"provider": "groq"})
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert vendor.model_requests == 1


async def test_a_cache_ttl_of_zero_asks_the_vendor_every_time(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    async with serve(make_settings(model_cache_ttl=0)) as http:
        first = await http.get("/api/v1/models", params={"provider": "groq"})
        vendor.models = {"object": "list", "data": [{"id": "changed", "object": "model", "owned_by": "x"}]}
        second = await http.get("/api/v1/models", params={"provider": "groq"})
    assert [m["id"] for m in first.json()] == FAKE_MODEL_IDS
    assert [m["id"] for m in second.json()] == ["changed"]
    assert vendor.model_requests == 2


@pytest.mark.parametrize("provider", ["deepseek", "openrouter"])
async def test_a_failing_vendor_gives_its_fallback_list_marked_fallback(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, provider: str
) -> None:
    vendor.models_status = 500
    response = await client.get("/api/v1/models", params={"provider": provider})
    assert response.status_code == 200
    models = response.json()
    assert [m["id"] for m in models] == list(PROVIDERS[provider].fallback_models)
    assert all(m["fallback"] is True and m["provider"] == provider for m in models)


# 200 answers to GET /models that are no model list.
ODD_MODEL_LISTS: list[object] = [
    {"object": "list", "data": None},
    {"object": "list"},
    [1, 2],
    b"<html><body>Bad gateway</body></html>",
]


async def test_a_model_list_in_an_unexpected_shape_gives_the_fallback_list_not_a_500(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    for answer in ODD_MODEL_LISTS:
        vendor.models = answer
        response = await client.get("/api/v1/models", params={"provider": "groq"})
        assert response.status_code == 200, answer
        models = response.json()
        assert [m["id"] for m in models] == list(PROVIDERS["groq"].fallback_models)
        assert all(m["fallback"] is True for m in models)


async def test_model_entries_without_an_id_are_skipped(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.models = {
        "object": "list",
        "data": [{"object": "model"}, "junk", {"id": "good-model", "object": "model"}],
    }
    response = await client.get("/api/v1/models", params={"provider": "groq"})
    assert response.status_code == 200
    assert [(m["id"], m["fallback"]) for m in response.json()] == [("good-model", False)]


async def test_a_fallback_list_is_not_cached_so_the_vendor_is_asked_again(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.models_status = 503
    fallback = await client.get("/api/v1/models", params={"provider": "deepseek"})
    vendor.models_status = 200
    live = await client.get("/api/v1/models", params={"provider": "deepseek"})
    assert all(m["fallback"] for m in fallback.json())
    assert [m["id"] for m in live.json()] == FAKE_MODEL_IDS
    assert vendor.model_requests == 2


async def test_an_unconfigured_provider_gives_its_fallback_list_without_asking_the_vendor(
    make_settings: SettingsFactory, serve: ServeApp, vendor: FakeOpenAIVendor
) -> None:
    async with serve(make_settings(nvidia_api_key=None)) as http:
        response = await http.get("/api/v1/models", params={"provider": "nvidia"})
    assert response.status_code == 200
    models = response.json()
    assert [m["id"] for m in models] == list(PROVIDERS["nvidia"].fallback_models)
    assert all(m["fallback"] is True for m in models)
    assert vendor.model_requests == 0


async def test_openrouter_model_names_descriptions_and_context_lengths_are_kept(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    # OpenRouter's /models is richer than OpenAI's: name, description, context_length, no `object`.
    vendor.models = {
        "data": [
            {
                "id": "anthropic/claude-sonnet-4",
                "canonical_slug": "anthropic/claude-sonnet-4",
                "name": "Anthropic: Claude Sonnet 4",
                "created": 1747930371,
                "description": "Claude Sonnet 4 significantly enhances ...",
                "context_length": 200000,
                "pricing": {"prompt": "0.000003", "completion": "0.000015"},
            }
        ],
        "total_count": 1,
        "links": {"next": None},
    }
    response = await client.get("/api/v1/models", params={"provider": "openrouter"})
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": "anthropic/claude-sonnet-4",
            "name": "Anthropic: Claude Sonnet 4",
            "provider": "openrouter",
            "description": "Claude Sonnet 4 significantly enhances ...",
            "context_length": 200000,
            "fallback": False,
            "details": None,
        }
    ]
