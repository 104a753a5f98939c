"""The app factory: everything is built from the settings it is given, inside the lifespan."""

import logging
import math
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

import database
from chat_turns import NotContinuable
from config import Settings, load_settings
from generation import GenerationManager, ServiceDraining
from media import MediaError, remove_partial_uploads
from models import is_text
from provider_registry import ProviderRegistry
from providers.errors import ProviderError, RegistryError
from redis_bus import RedisBus
from routers import chat, health, models, providers, sessions, upload

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
        await registry.prepare()
        bus = RedisBus(settings.redis_url) if settings.redis_url else None
        manager = GenerationManager(settings, db, bus)
        await manager.start()
        app.state.settings = settings
        app.state.database = db
        app.state.registry = registry
        app.state.manager = manager
        try:
            yield
        finally:
            await manager.drain(settings.shutdown_grace_seconds)
            await manager.close()
            await registry.aclose()
            await db.close()

    app = FastAPI(
        title=settings.app_name,
        version=settings.app_version,
        description="One API for many LLM vendors, with every conversation kept in a database.",
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials="*" not in settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Total-Count", "X-Ignored-Parameters"],
    )
    _add_error_handlers(app)
    app.include_router(health.router)
    for module in (providers, models, sessions, chat, upload):
        app.include_router(module.router, prefix=settings.api_prefix)
    settings.upload_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/uploads", UploadFiles(directory=settings.upload_dir), name="uploads")
    return app


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


def _error(status_code: int, detail: str, **extra: object) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status_code)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Each error echoes the input it refused, and Python's JSON parser takes NaN, Infinity and
        # lone surrogates, which a JSON response cannot carry back.
        return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(ProviderError)
    async def provider_error(_: Request, exc: ProviderError) -> JSONResponse:
        return _error(exc.status_code, str(exc), provider=exc.provider)

    @app.exception_handler(RegistryError)
    async def registry_error(_: Request, exc: RegistryError) -> JSONResponse:
        return _error(exc.status_code, str(exc))

    @app.exception_handler(MediaError)
    async def media_error(_: Request, exc: MediaError) -> JSONResponse:
        return _error(exc.status_code, str(exc))

    @app.exception_handler(database.NotFoundError)
    async def not_found(_: Request, exc: database.NotFoundError) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(ServiceDraining)
    async def draining(_: Request, exc: ServiceDraining) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(NotContinuable)
    async def not_continuable(_: Request, exc: NotContinuable) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(chat.NotGenerating)
    async def not_generating(_: Request, exc: chat.NotGenerating) -> JSONResponse:
        return _error(409, str(exc), status=exc.status)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # An unexpected exception's text may hold server paths, SQL or another request's data: it
        # goes to the log, and the client gets a reference that finds it there.
        reference = secrets.token_hex(4)
        logger.exception("Unhandled error, reference %s", reference, exc_info=exc)
        detail = f"Internal error, reference {reference}: the server's log has the details"
        return _error(500, detail, reference=reference)
