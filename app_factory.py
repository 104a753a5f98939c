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
from config import Settings, load_settings
from generation.manager import GenerationManager
from generation.redis_bus import RedisBus
from media import remove_partial_uploads
from models import ApiError, is_text
from provider_registry import ProviderRegistry
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
        await db.create_tables()
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


def _add_error_handlers(app: FastAPI) -> None:
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
