"""The app factory: everything is built from the settings it is given, inside the lifespan."""

import logging
import math
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

import database
from config import Settings, load_settings
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
from routers import archive, chat, health, models, providers, search, sessions, simple_chat, upload
from routers import metrics as metrics_router
from titles.titler import Titler

logger = logging.getLogger(__name__)


class UploadFiles(StaticFiles):
    """Uploaded and generated media, served with `nosniff` so a browser never runs one as a page."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

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
            await db.close()
            await tracing.shutdown(traces)

    metrics = Metrics()
    traces = tracing.tracer_provider(settings)
    app = FastAPI(
        title=settings.app_name,
        version=settings.app_version,
        description="One API for many LLM vendors, with every conversation kept in a database.",
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
        expose_headers=["X-Total-Count", "X-Ignored-Parameters", "X-Request-Id"],
    )
    # Outermost: the request id is set before anything else runs, and errors are counted too.
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    _add_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics_router.router)
    # The simple chat API's routes are at the root, where API_PREFIX cannot be (config.py).
    app.include_router(simple_chat.router)
    for module in (providers, models, sessions, chat, upload, search, archive):
        app.include_router(module.router, prefix=settings.api_prefix)
    app.include_router(health.api_router, prefix=settings.api_prefix)
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/uploads", UploadFiles(directory=settings.upload_dir), name="uploads")
    app.openapi = _openapi_listing_providers(app, provider_ids(settings))  # type: ignore[method-assign]
    return app


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


def _openapi_listing_providers(app: FastAPI, ids: list[str]) -> Callable[[], dict[str, Any]]:
    """`app.openapi` with the ProviderId schema listing this app's provider ids.

    They depend on the settings (extra vendors come from the environment), so no model can declare them.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        schema = generate()  # cached by FastAPI after the first call
        if first:
            schema["components"]["schemas"]["ProviderId"]["enum"] = ids
        return schema

    return openapi


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
