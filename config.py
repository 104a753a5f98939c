"""Settings read from the environment and `.env`, normalized once so callers never re-parse.

Besides the declared fields, any pair `<NAME>_API_KEY` + `<NAME>_BASE_URL` whose NAME is not a built-in
vendor becomes an extra OpenAI-compatible provider (`extra_providers`), so a vendor is added without code.
"""

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from cryptography.fernet import Fernet
from dotenv import dotenv_values
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

# Prefixes owned by declared settings; a `<NAME>_API_KEY` with one of these is never an extra vendor.
BUILTIN_VENDOR_PREFIXES = frozenset(
    {
        "OPENAI",
        "DEEPSEEK",
        "SILICONFLOW",
        "GROQ",
        "MISTRAL",
        "GROK",
        "OPENROUTER",
        "CEREBRAS",
        "NVIDIA",
        "GEMINI",
        "DOUBAO",
        "ANTHROPIC",
        "OLLAMA",
    }
)


# The origins a frontend served on this machine has: the dev servers' usual ports (Create React App
# and others 3000, Vite 5173 and its preview 4173, 8080) and none. The API has no authentication, so
# `*` would let any page open in the user's browser read and delete every chat; it must be asked for.
LOCAL_FRONTEND_ORIGINS = [
    f"http://{host}{port}"
    for host in ("localhost", "127.0.0.1")
    for port in ("", ":3000", ":5173", ":4173", ":8080")
]


class ExtraProvider(BaseModel):
    api_key: str
    base_url: str


class OidcIssuer(BaseModel):
    """An OpenID Connect issuer whose ID tokens POST /auth/sso takes (auth/oidc.py)."""

    issuer: str
    audience: str
    # Where its signing keys are; None: found through its discovery document.
    jwks_url: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    app_name: str = "Lite-LLM-Chat Backend"
    app_version: str = "1.0.0"
    api_prefix: str = "/api/v1"
    backend_host: str = "127.0.0.1"
    backend_port: int = Field(default=8000, ge=1, le=65535)
    database_url: str = "sqlite:///./chat_history.db"
    http_proxy: str | None = None
    provider_timeout: float = Field(default=20.0, gt=0)
    provider_max_retries: int = Field(default=2, ge=0, le=10)
    model_cache_ttl: int = Field(default=3600, ge=0)
    cors_origins: Annotated[list[str], NoDecode] = LOCAL_FRONTEND_ORIGINS
    max_connections: int = Field(default=2000, ge=1)

    openai_api_key: str | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    deepseek_api_key: str | None = None
    deepseek_base_url: str = "https://api.deepseek.com"
    siliconflow_api_key: str | None = None
    siliconflow_base_url: str = "https://api.siliconflow.cn/v1"
    groq_api_key: str | None = None
    groq_base_url: str = "https://api.groq.com/openai/v1"
    mistral_api_key: str | None = None
    mistral_base_url: str = "https://api.mistral.ai/v1"
    grok_api_key: str | None = None
    grok_base_url: str = "https://api.x.ai/v1"
    openrouter_api_key: str | None = None
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    openrouter_http_referer: str | None = None
    openrouter_x_title: str | None = None
    cerebras_api_key: str | None = None
    cerebras_base_url: str = "https://api.cerebras.ai/v1"
    nvidia_api_key: str | None = None
    nvidia_base_url: str = "https://integrate.api.nvidia.com/v1"
    gemini_api_key: str | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    doubao_api_key: str | None = None
    doubao_base_url: str = "https://ark.cn-beijing.volces.com/api/v3"
    anthropic_api_key: str | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    anthropic_max_tokens: int = Field(default=8192, ge=1)
    # No key: Ollama is configured when a server answers here (providers/ollama.py).
    ollama_base_url: str = "http://127.0.0.1:11434"

    upload_dir: Path = Path(__file__).parent / "uploads"
    max_image_mb: float = Field(default=20, gt=0)
    max_video_mb: float = Field(default=200, gt=0)
    max_audio_mb: float = Field(default=50, gt=0)
    max_document_mb: float = Field(default=32, gt=0)
    max_image_pixels: int = Field(default=50_000_000, gt=0)
    max_import_mb: float = Field(default=200, gt=0)

    redis_url: str | None = None

    stream_flush_interval: float = Field(default=0.25, gt=0)
    first_token_timeout: float = Field(default=60.0, gt=0)
    stream_idle_timeout: float = Field(default=60.0, gt=0)
    max_generation_seconds: float = Field(default=600.0, gt=0)
    disconnect_policy: Literal["auto", "continue", "stop"] = "auto"
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    keepalive_seconds: float = Field(default=15.0, gt=0)
    loop_detect_chars: int = Field(default=1200, ge=0)
    # WebSocket streaming (routers/websocket.py): frames waiting for a slow reader, per socket, and
    # the largest frame a client may send (uvicorn itself closes a socket on frames over 16 MiB).
    ws_send_queue: int = Field(default=256, ge=1)
    ws_max_frame_bytes: int = Field(default=1_048_576, ge=1024, le=16 * 1024 * 1024)

    # Per-client limits on chat requests (limits/); 0 is no limit.
    rate_limit_per_minute: int = Field(default=0, ge=0)
    max_concurrent_generations: int = Field(default=0, ge=0)

    # Observability (observability/): log lines, and who may read /metrics.
    log_format: Literal["text", "json"] = "text"
    metrics_token: str | None = None
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = "lite-llm-chat"

    # Automatic titles (titles/): both set, a model names each new session after its first reply.
    title_provider: str | None = None
    title_model: str | None = None

    # The simple chat API at the root (routers/simple_chat.py), and new sessions' system prompt.
    default_provider: str = "ollama"
    default_model: str = "llama3.1:8b-instruct-q8_0"
    system_prompt_file: Path = Path(__file__).parent / "system_prompt.txt"

    # Accounts (auth/): `off` serves one local user without credentials, as before accounts existed.
    auth_mode: Literal["off", "required"] = "off"
    secret_key: SecretStr | None = None
    access_token_expire_minutes: int = Field(default=30, ge=1)
    refresh_token_expire_days: int = Field(default=30, ge=1)
    allow_signup: bool = True
    oidc_issuers: Annotated[list[OidcIssuer], NoDecode] = []
    # Fernet keys, newest first: the first encrypts, every one decrypts (rotation).
    encryption_key: Annotated[list[SecretStr], NoDecode] = []
    allow_operator_keys: bool = True
    signin_max_failures: int = Field(default=5, ge=1)
    signin_failure_window_seconds: int = Field(default=900, ge=1)
    # The OpenAI-compatible front door at /v1 (gateway/).
    store_gateway_calls: bool = True
    # alias -> `provider/model` targets, tried in order; YAML or JSON (`fast: [groq/a, cerebras/b]`).
    model_aliases: Annotated[dict[str, list[str]], NoDecode] = {}
    model_aliases_file: Path | None = None
    # Prices that replace or add to the shipped table (gateway/prices.yaml), in the same form.
    price_table_file: Path | None = None
    circuit_breaker_failures: int = Field(default=3, ge=1)
    circuit_breaker_cooldown: float = Field(default=30.0, gt=0)

    extra_providers: dict[str, ExtraProvider] = {}

    @field_validator("model_aliases", mode="before")
    @classmethod
    def _aliases(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = yaml.safe_load(value) if value.strip() else {}
            except yaml.YAMLError as exc:
                raise ValueError(f"neither YAML nor JSON: {exc}") from exc
        return alias_targets(value)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("oidc_issuers", mode="before")
    @classmethod
    def _issuers_json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("encryption_key", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("encryption_key")
    @classmethod
    def _fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for number, key in enumerate(value, 1):
            try:
                Fernet(key.get_secret_value())
            except ValueError:
                # The key itself is never echoed: it is a secret.
                raise ValueError(
                    f"key {number} is not a Fernet key (32 url-safe base64-encoded bytes; "
                    "make one with `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`)"
                ) from None
        return value

    @model_validator(mode="after")
    def _signing_key_when_required(self) -> "Settings":
        secret = self.secret_key.get_secret_value() if self.secret_key else ""
        if self.auth_mode == "required" and not secret:
            raise ValueError("SECRET_KEY must be set when AUTH_MODE=required (it signs the access tokens)")
        if secret and len(secret) < 32:
            # RFC 7518 3.2: an HS256 key shorter than the hash is guessable offline from one token.
            raise ValueError("SECRET_KEY must be at least 32 characters long (it signs the access tokens)")
        return self

    @field_validator("api_prefix")
    @classmethod
    def _prefixed(cls, value: str) -> str:
        # The root holds GET /health and the simple chat API's /chat routes: the API cannot be there too.
        prefix = value.rstrip("/")
        if not prefix.startswith("/"):
            raise ValueError("must be a path below the root, such as /api/v1")
        if prefix == "/v1":
            raise ValueError("/v1 is the OpenAI-compatible front door's; use another path, such as /api/v1")
        return prefix

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        # The database runs on threads of its own (database.Database), with a blocking driver;
        # URLs written for the asyncio drivers keep working.
        for given, used in (
            ("sqlite+aiosqlite://", "sqlite://"),
            ("postgresql+asyncpg://", "postgresql+psycopg://"),
            ("postgresql://", "postgresql+psycopg://"),
            ("postgres://", "postgresql+psycopg://"),
        ):
            if value.startswith(given):
                return used + value[len(given) :]
        return value

    @model_validator(mode="before")
    @classmethod
    def _discover_extra_providers(cls, data: Any) -> Any:
        if isinstance(data, dict) and "extra_providers" not in data:
            data = {**data, "extra_providers": discover_extra_providers()}
        return data


def alias_targets(value: Any) -> Any:
    """Aliases with every value a list of targets: `fast: groq/llama` stands for `fast: [groq/llama]`."""
    if isinstance(value, dict):
        return {name: [targets] if isinstance(targets, str) else targets for name, targets in value.items()}
    return value


def discover_extra_providers() -> dict[str, dict[str, str]]:
    """Find `<NAME>_API_KEY` + `<NAME>_BASE_URL` pairs for vendors that have no module of their own."""
    env: dict[str, str] = {k: v for k, v in dotenv_values(".env").items() if v}
    env.update({k: v for k, v in os.environ.items() if v})
    found: dict[str, dict[str, str]] = {}
    for key, value in env.items():
        if not key.endswith("_API_KEY"):
            continue
        prefix = key.removesuffix("_API_KEY")
        base_url = env.get(f"{prefix}_BASE_URL")
        if prefix and prefix not in BUILTIN_VENDOR_PREFIXES and base_url:
            found[prefix.lower()] = {"api_key": value, "base_url": base_url}
    return found


def load_settings() -> Settings:
    """Build Settings, or stop start-up with a message naming each bad variable."""
    try:
        return Settings()
    except SettingsError as exc:
        # A value pydantic-settings could not even decode (a list or dict that is not JSON).
        sys.exit(f"Invalid configuration: {exc}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        sys.exit(f"Invalid configuration: {problems}")
