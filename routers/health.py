"""The service's state: GET /health at the root; under API_PREFIX, /health with the providers, and /help."""

import asyncio

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

import database
from auth.current_user import current_user
from config import Settings
from models import HealthOut, ModelOut
from routers.deps import AppSettings, Db, Registry
from routers.models import listed_models

router = APIRouter(tags=["health"])  # at the root
api_router = APIRouter(tags=["health"])  # under API_PREFIX


async def _health(db: database.Database, settings: Settings) -> HealthOut:
    try:
        reachable = await db.run(database.ping)
    except SQLAlchemyError:
        reachable = False
    return HealthOut(
        status="ok" if reachable else "degraded",
        version=settings.app_version,
        database=reachable,
        timestamp=database.utcnow(),
    )


@router.get("/health")
async def health(db: Db, settings: AppSettings) -> HealthOut:
    """Service status, version, whether the database answers, and the time of this answer."""
    return await _health(db, settings)


class ApiHealthOut(HealthOut):
    providers: list[str] = Field(description="The ids of the providers configured now")


@api_router.get("/health")
async def api_health(db: Db, settings: AppSettings, registry: Registry) -> ApiHealthOut:
    """As GET /health, with the providers that are configured."""
    await registry.refresh()
    configured = [provider.id for provider in registry.all() if provider.configured]
    return ApiHealthOut(**(await _health(db, settings)).model_dump(), providers=configured)


class HelpProviderOut(BaseModel):
    id: str
    name: str
    description: str
    models: list[ModelOut]


class UnconfiguredOut(BaseModel):
    id: str
    name: str
    remedy: str = Field(description="What configures it")


class HelpOut(BaseModel):
    app_name: str
    version: str
    docs: str = Field(description="Where the interactive API documentation is")
    api_prefix: str
    providers: list[HelpProviderOut] = Field(description="The configured providers and their models")
    not_configured: list[UnconfiguredOut]


@api_router.get("/help", dependencies=[Depends(current_user)])
async def service_help(settings: AppSettings, registry: Registry) -> HelpOut:
    """The configured providers with their models (the vendors' lists, cached); how to configure the rest."""
    await registry.refresh()
    configured = [provider for provider in registry.all() if provider.configured]
    listings = await asyncio.gather(*(registry.models(provider.id) for provider in configured))
    providers = [
        HelpProviderOut(id=p.id, name=p.name, description=p.description, models=listed_models(listing))
        for p, listing in zip(configured, listings, strict=True)
    ]
    others = [
        UnconfiguredOut(id=p.id, name=p.name, remedy=p.unconfigured_remedy())
        for p in registry.all()
        if not p.configured
    ]
    return HelpOut(
        app_name=settings.app_name,
        version=settings.app_version,
        docs="/docs",
        api_prefix=settings.api_prefix,
        providers=providers,
        not_configured=others,
    )
