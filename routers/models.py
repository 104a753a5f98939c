from fastapi import APIRouter, Query

import database
from models import ModelOut
from provider_registry import ModelListing
from providers.errors import UnknownProviderError
from routers.deps import Registry
from routers.errors import PROVIDER_NOT_FOUND

router = APIRouter(tags=["models"])


@router.get("/models", responses=PROVIDER_NOT_FOUND)
async def list_models(
    registry: Registry,
    # Empty (or left out) lists every provider's models; a query parameter is never null.
    provider: str = Query("", description="Only this provider's models"),
) -> list[ModelOut]:
    """Models per provider: the vendor's list (cached), or its fallback list marked `fallback`."""
    if not provider:
        listings = await registry.all_models()
    else:
        try:
            listings = [await registry.models(provider)]
        except UnknownProviderError as exc:
            # Here the provider is a resource being looked up, so an unknown one is "not found".
            raise database.NotFoundError(str(exc)) from exc
    return [model for listing in listings for model in listed_models(listing)]


def listed_models(listing: ModelListing) -> list[ModelOut]:
    return [
        ModelOut(
            id=m.id,
            name=m.name,
            provider=listing.provider,
            description=m.description,
            context_length=m.context_length,
            fallback=listing.fallback,
            details=dict(m.details) if m.details is not None else None,
        )
        for m in listing.models
    ]
