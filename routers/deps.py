"""Dependency aliases: everything comes from the app's lifespan state, nothing from import time.

They are `async def` although they do not await: FastAPI runs a plain `def` dependency in a worker
thread, a thread hop per request for a lookup of an attribute.
"""

from typing import Annotated

from fastapi import Depends, Path, Request

import database
from config import Settings
from gateway.service import Gateway
from generation.manager import GenerationManager
from models import MAX_ROW_ID
from provider_registry import ProviderRegistry


async def get_database(request: Request) -> database.Database:
    db: database.Database = request.app.state.database
    return db


async def get_registry(request: Request) -> ProviderRegistry:
    registry: ProviderRegistry = request.app.state.registry
    return registry


async def get_manager(request: Request) -> GenerationManager:
    manager: GenerationManager = request.app.state.manager
    return manager


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Db = Annotated[database.Database, Depends(get_database)]
Registry = Annotated[ProviderRegistry, Depends(get_registry)]
Manager = Annotated[GenerationManager, Depends(get_manager)]
AppSettings = Annotated[Settings, Depends(get_settings)]
GatewayState = Annotated[Gateway, Depends(get_gateway)]

SessionId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
MessageId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
