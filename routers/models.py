from fastapi import APIRouter, Query

from models import ModelOut
from provider_registry import ModelListing
from routers.deps import Registry

router = APIRouter(tags=["models"])


@router.get("/models")
async def list_models(
    registry: Registry,
    provider: str | None = Query(None, description="Only this provider's models"),
) -> list[ModelOut]:
    """Models per provider: the vendor's list (cached), or its fallback list marked `fallback`."""
    listings = [await registry.models(provider)] if provider else await registry.all_models()
    return [model for listing in listings for model in _models(listing)]


def _models(listing: ModelListing) -> list[ModelOut]:
    return [
        ModelOut(
            id=m.id,
            name=m.name,
            provider=listing.provider,
            description=m.description,
            context_length=m.context_length,
            fallback=listing.fallback,
        )
        for m in listing.models
    ]
