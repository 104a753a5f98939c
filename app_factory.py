"""The app factory: everything is built from the settings it is given, inside the lifespan."""

import ipaddress
import logging
import math
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

import database
from auth.current_user import bearer_token, current_user, user_from_token
from auth.service import AuthService
from auth.store import file_owner
from config import Settings, load_settings
from gateway.service import Gateway
from generation.manager import GenerationManager
from generation.redis_bus import RedisBus
from limits.dependency import Limits
from limits.local import LocalLimits
from limits.shared import RedisLimits
from media import remove_partial_uploads
from models import ApiError, is_text
from observability import tracing
from observability.metrics import Metrics, MetricsMiddleware
from observability.request_id import RequestIdMiddleware
from provider_registry import ProviderRegistry, provider_ids
from routers import (
    archive,
    auth,
    chat,
    chats,
    health,
    models,
    openai_gateway,
    providers,
    search,
    sessions,
    simple_chat,
    tree,
    upload,
    usage,
    user_keys,
    websocket,
)
from routers import metrics as metrics_router
from socket_stream.connection import SocketRegistry
from titles.titler import Titler

logger = logging.getLogger(__name__)


class UploadFiles(StaticFiles):
    """Uploaded and generated media, served with `nosniff` so a browser never runs one as a page.

    With AUTH_MODE=required a file is served to its owner only; to anyone else it does not exist.
    """

    async def get_response(self, path: str, scope: Any) -> Response:
        auth: AuthService = scope["app"].state.auth
        if not auth.off:
            request = Request(scope)
            user = await user_from_token(bearer_token(request.headers.get("authorization")), auth)
            if await auth.db.run_core(file_owner, path) != user.id:
                raise HTTPException(404)
        return await super().get_response(path, scope)

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    # Built before the app: a malformed alias or price file stops start-up, naming it.
    gateway = Gateway.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database.Database(settings.database_url)
        try:
            await db.migrate()
        except Exception:
            await db.close()  # start-up stops here: no thread or connection left behind
            raise
        await remove_partial_uploads(settings.upload_dir)
        registry = ProviderRegistry(settings)
        try:
            titler = _titler(settings, registry, db)
        except Exception:
            await registry.aclose()
            await db.close()
            raise
        await registry.prepare()
        registry.start_probes()  # a vendor without a key (Ollama): asked now, not waited for
        bus = RedisBus(settings.redis_url) if settings.redis_url else None
        manager = GenerationManager(settings, db, bus)
        manager.titler = titler
        manager.metrics = metrics
        manager.tracer = traces.get_tracer("lite-llm-chat") if traces is not None else None
        metrics.count_running(lambda: len(manager.active))
        db.observe = metrics.observe_database
        await manager.start()
        app.state.settings = settings
        app.state.database = db
        app.state.registry = registry
        app.state.manager = manager
        app.state.auth = AuthService(settings, db)
        _warn_if_open(settings)
        app.state.gateway = gateway
        app.state.metrics = metrics
        app.state.limits = chat_limits = _limits(settings)
        try:
            yield
        finally:
            if chat_limits is not None:
                await chat_limits.close()
            await manager.drain(settings.shutdown_grace_seconds)
            if manager.titler is not None:
                await manager.titler.close()
            await manager.close()
            await registry.aclose()
            await app.state.auth.aclose()
            await db.close()
            await tracing.shutdown(traces)

    metrics = Metrics()
    traces = tracing.tracer_provider(settings)
    app = FastAPI(
        title=settings.app_name,
        version=settings.app_version,
        description="One API for many LLM vendors, with every conversation kept in a database.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry spans, on this app's provider; its metrics are /metrics'.
        telemetry={"tracer_provider": traces, "metrics": False, "logs": False}
        if traces is not None
        else {"tracing": False, "metrics": False, "logs": False},
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials="*" not in settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[
            "X-Total-Count",
            "X-Ignored-Parameters",
            "X-Request-Id",
            "X-Session-Id",
            "X-Message-Id",
            "X-Answered-By",
        ],
    )
    # Outermost: the request id is set before anything else runs, and errors are counted too.
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    _add_error_handlers(app)
    _add_routers(app, settings)
    app.state.sockets = SocketRegistry()
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/uploads", UploadFiles(directory=settings.upload_dir), name="uploads")
    app.openapi = _openapi_listing_providers(app, provider_ids(settings), settings)  # type: ignore[method-assign]
    return app


def _add_routers(app: FastAPI, settings: Settings) -> None:
    # Every route but the health checks and signing up or in needs a credential with AUTH_MODE=required.
    signed_in = [Depends(current_user)]
    # A request is matched against the included routers in this order, each a scan of its routes:
    # the two that start replies come first (about 0.1 ms less per chat turn than last). Their
    # paths overlap no other router's (API_PREFIX cannot be /v1, config.py); the documentation
    # keeps its own order (OPENAPI_TAGS).
    app.include_router(chat.router, prefix=settings.api_prefix, dependencies=signed_in)
    # The OpenAI-compatible front door is at /v1, where OpenAI's clients look for it; it resolves
    # its callers itself (gateway/auth.py), so that a refusal is in OpenAI's error shape.
    app.include_router(openai_gateway.router)
    app.include_router(health.router)
    # /metrics has a bearer secret of its own (METRICS_TOKEN), not an account.
    app.include_router(metrics_router.router)
    app.include_router(auth.public_router)
    app.include_router(auth.router)
    # The simple chat API's routes are at the root, where API_PREFIX cannot be (config.py); so are
    # seed 003's, with its own /models and /providers beside ours under API_PREFIX.
    for module in (simple_chat, chats, user_keys, providers, models):
        app.include_router(module.router, dependencies=signed_in)
    for module in (providers, models, sessions, tree, upload, usage, search, archive):
        app.include_router(module.router, prefix=settings.api_prefix, dependencies=signed_in)
    # Seed 003's streaming routes are at the root, where seed 003 has them. A socket's client is
    # known by a token it sends (routers/websocket.py); the HTTP routes there ask for the caller.
    app.include_router(websocket.router)
    app.include_router(health.api_router, prefix=settings.api_prefix)


# The order /docs shows the API in: the service's own first, the front door last.
OPENAPI_TAGS = [
    {"name": name}
    for name in (
        "health",
        "observability",
        "auth",
        "simple chat",
        "chats",
        "user keys",
        "providers",
        "models",
        "sessions",
        "conversation tree",
        "chat",
        "upload",
        "usage",
        "search",
        "archive",
        "websocket streaming",
        "openai-compatible",
    )
]


def _warn_if_open(settings: Settings) -> None:
    """AUTH_MODE=off on an address other machines reach: say so at start."""
    if settings.auth_mode != "off" or settings.backend_host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(settings.backend_host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        loopback = False
    if not loopback:
        logger.warning(
            "AUTH_MODE=off on BACKEND_HOST=%s: anyone who reaches this port reads and deletes every chat "
            "and spends the vendor keys; set AUTH_MODE=required (and SECRET_KEY) to require accounts",
            settings.backend_host,
        )


def _limits(settings: Settings) -> Limits | None:
    """The chat limits' counts: shared through Redis when REDIS_URL is set; None with no limit set."""
    per_minute, concurrent = settings.rate_limit_per_minute, settings.max_concurrent_generations
    if not (per_minute or concurrent):
        return None
    if settings.redis_url:
        # A slot whose worker died is given up once its reply could no longer be running.
        return RedisLimits(settings.redis_url, per_minute, concurrent, settings.max_generation_seconds + 60)
    return LocalLimits(per_minute, concurrent)


def _titler(settings: Settings, registry: ProviderRegistry, db: database.Database) -> Titler | None:
    """The titler when TITLE_PROVIDER and TITLE_MODEL are set; an unknown provider stops start-up."""
    if not (settings.title_provider and settings.title_model):
        return None
    return Titler(registry, db, settings.title_provider, settings.title_model)


def _openapi_listing_providers(
    app: FastAPI, ids: list[str], settings: Settings
) -> Callable[[], dict[str, Any]]:
    """`app.openapi` with the ProviderId schema listing this app's provider ids.

    They depend on the settings (extra vendors come from the environment), so no model can declare them.
    With AUTH_MODE=required the operations that need a credential say so (Swagger UI's Authorize).
    """
    generate = app.openapi
    public = {"/health", f"{settings.api_prefix}/health", *(f"/auth/{name}" for name in PUBLIC_AUTH)}

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        schema = generate()  # cached by FastAPI after the first call
        if first:
            schema["components"]["schemas"]["ProviderId"]["enum"] = ids
            if settings.auth_mode == "required":
                _require_bearer(schema, public)
        return schema

    return openapi


PUBLIC_AUTH = ("signup", "signin", "sso", "refresh")
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "An access token (POST /auth/signin) or an API key (`lk-...`, POST /auth/api-keys)",
}


def _require_bearer(schema: dict[str, Any], public: set[str]) -> None:
    schema["components"]["securitySchemes"] = {"bearer": BEARER}
    for path, operations in schema["paths"].items():
        if path not in public:
            for operation in operations.values():
                operation["security"] = [{"bearer": []}]


def _json_safe(value: Any) -> Any:
    """`value` with what JSON cannot carry written out as text.

    NaN and the infinities become "nan", "inf" and "-inf"; lone surrogates, backslash escapes.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value if is_text(value) else value.encode(errors="backslashreplace").decode()
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def _allowed_methods(app: FastAPI, path: str) -> set[str]:
    """The methods of the operations the schema documents at `path`: every route there has one."""
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {
        method.upper()
        for template, operations in paths.items()
        if compile_path(template)[0].match(path)
        for method in operations
    }


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # A 405 is raised by the first route matching the path, so its `Allow` names only that
        # route's methods; it must name those of every route there (GET, POST and DELETE /sessions).
        methods = _allowed_methods(app, request.url.path) if exc.status_code == 405 else set()
        if methods:
            headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(methods))}
            exc = HTTPException(exc.status_code, exc.detail, headers=headers)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Each error echoes the input it refused, and Python's JSON parser takes NaN, Infinity and
        # lone surrogates, which a JSON response cannot carry back.
        return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), **exc.extra()}, status_code=exc.status_code, headers=dict(exc.headers)
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # An unexpected exception's text may hold server paths, SQL or another request's data: it
        # goes to the log, and the client gets a reference that finds it there.
        reference = secrets.token_hex(4)
        logger.exception("Unhandled error, reference %s", reference, exc_info=exc)
        detail = f"Internal error, reference {reference}: the server's log has the details"
        return JSONResponse({"detail": detail, "reference": reference}, status_code=500)
