"""Dependency aliases: everything comes from the app's lifespan state, nothing from import time."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

import database
from config import Settings
from generation import GenerationManager
from provider_registry import ProviderRegistry


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async for db in database.db_session(request.app.state.sessionmaker):
        yield db


def get_registry(request: Request) -> ProviderRegistry:
    registry: ProviderRegistry = request.app.state.registry
    return registry


def get_manager(request: Request) -> GenerationManager:
    manager: GenerationManager = request.app.state.manager
    return manager


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DbSession = Annotated[AsyncSession, Depends(get_db_session)]
Registry = Annotated[ProviderRegistry, Depends(get_registry)]
Manager = Annotated[GenerationManager, Depends(get_manager)]
AppSettings = Annotated[Settings, Depends(get_settings)]
