"""Settings: normalized URLs and lists, extra vendors from `<NAME>_API_KEY` + `_BASE_URL`, clear failures."""

from pathlib import Path

import pytest

from config import LOCAL_FRONTEND_ORIGINS, Settings, load_settings
from tests.conftest import ServeApp, SettingsFactory

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run in an empty directory (no `.env`) with no variable that would change what is tested."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "CORS_ORIGINS", "PROVIDER_TIMEOUT", "MODEL_CACHE_TTL", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///./chat_history.db", "sqlite:///./chat_history.db"),
        ("postgresql://u:p@db:5432/chat", "postgresql+psycopg://u:p@db:5432/chat"),
        ("postgres://u:p@db/chat", "postgresql+psycopg://u:p@db/chat"),
        ("sqlite+aiosqlite:///old.db", "sqlite:///old.db"),
        ("postgresql+asyncpg://u@db/chat", "postgresql+psycopg://u@db/chat"),
        ("postgresql+psycopg://u@db/chat", "postgresql+psycopg://u@db/chat"),
    ],
)
def test_database_urls_get_the_driver_the_service_runs(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert Settings().database_url == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://a.example, http://b.example", ["http://a.example", "http://b.example"]),
        ('["http://a.example","http://b.example"]', ["http://a.example", "http://b.example"]),
        ("*", ["*"]),
    ],
)
def test_cors_origins_are_split_from_a_comma_list_or_json(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: list[str]
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", given)
    assert Settings().cors_origins == expected


def test_cors_origins_default_to_local_frontends_and_never_to_any_origin() -> None:
    origins = Settings().cors_origins
    assert origins == LOCAL_FRONTEND_ORIGINS
    assert {"http://localhost:5173", "http://127.0.0.1:3000", "http://localhost"} <= set(origins)
    assert "*" not in origins


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "")
    monkeypatch.setenv("PROVIDER_TIMEOUT", "")
    settings = Settings()
    assert settings.deepseek_api_key is None
    assert settings.provider_timeout == 20.0


def test_settings_are_read_from_a_dotenv_file_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DEEPSEEK_API_KEY=from-dotenv\nMODEL_CACHE_TTL=60\n")
    settings = Settings()
    assert settings.deepseek_api_key == "from-dotenv"
    assert settings.model_cache_ttl == 60


def test_a_key_and_base_url_pair_of_an_unknown_vendor_becomes_an_extra_provider(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ACME_API_KEY", "acme-key")
    monkeypatch.setenv("ACME_BASE_URL", "https://llm.acme.example/v1")
    monkeypatch.setenv("LONELY_API_KEY", "no base url")  # a key alone is not a vendor
    monkeypatch.setenv("GROQ_API_KEY", "groq-key")
    monkeypatch.setenv("GROQ_BASE_URL", "https://groq.example/v1")  # a built-in vendor stays built in
    (tmp_path / ".env").write_text("ZETA_API_KEY=zeta-key\nZETA_BASE_URL=https://zeta.example/v1\n")
    extras = Settings().extra_providers
    assert {"acme", "zeta"} <= set(extras)
    assert "lonely" not in extras
    assert "groq" not in extras
    assert (extras["acme"].api_key, extras["acme"].base_url) == ("acme-key", "https://llm.acme.example/v1")
    assert extras["zeta"].api_key == "zeta-key"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PROVIDER_TIMEOUT", "soon"),
        ("MODEL_CACHE_TTL", "-1"),
        ("BACKEND_PORT", "70000"),
        # The OpenAI-compatible front door's: our /v1/models would shadow its model list.
        ("API_PREFIX", "/v1/"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    assert f"{variable}:" in str(stopped.value)
    assert str(stopped.value).startswith("Invalid configuration")


async def test_the_api_prefix_setting_moves_every_api_route_but_not_health(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    async with serve(make_settings(api_prefix="/api/v2")) as http:
        moved = await http.get("/api/v2/providers")
        old = await http.get("/api/v1/providers")
        health = await http.get("/health")
    assert moved.status_code == 200
    assert isinstance(moved.json(), list)
    assert old.status_code == 404
    assert health.status_code == 200


async def test_cors_answers_a_browser_preflight_from_an_allowed_origin_and_exposes_the_count_header(
    make_settings: SettingsFactory, serve: ServeApp
) -> None:
    async with serve(make_settings(cors_origins=["http://localhost:5173"])) as http:
        preflight = await http.options(
            "/api/v1/sessions",
            headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "DELETE"},
        )
        listing = await http.get("/api/v1/sessions", headers={"Origin": "http://localhost:5173"})
        other = await http.get("/api/v1/sessions", headers={"Origin": "http://evil.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert listing.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "X-Total-Count" in listing.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in other.headers


PREFLIGHTS = [
    # (CORS_ORIGINS, the page's origin, the allowed origin answered or None when refused)
    (None, "http://localhost:5173", "http://localhost:5173"),
    (None, "http://127.0.0.1:3000", "http://127.0.0.1:3000"),
    (None, "http://localhost", "http://localhost"),
    (None, "https://evil.example", None),
    (None, "http://localhost:9999", None),
    ("*", "https://evil.example", "*"),
]


@pytest.mark.parametrize(("cors_origins", "origin", "allowed"), PREFLIGHTS)
async def test_a_preflight_is_allowed_from_local_frontends_by_default_and_from_anywhere_only_when_set_to_star(
    make_settings: SettingsFactory,
    serve: ServeApp,
    monkeypatch: pytest.MonkeyPatch,
    cors_origins: str | None,
    origin: str,
    allowed: str | None,
) -> None:
    if cors_origins is not None:
        monkeypatch.setenv("CORS_ORIGINS", cors_origins)
    async with serve(make_settings()) as http:
        preflight = await http.options(
            "/api/v1/sessions", headers={"Origin": origin, "Access-Control-Request-Method": "DELETE"}
        )
    assert preflight.status_code == (200 if allowed else 400)
    assert preflight.headers.get("access-control-allow-origin") == allowed
