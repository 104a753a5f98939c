from fastapi import APIRouter

from models import ProviderOut
from routers.deps import GatewayState, Registry

router = APIRouter(tags=["providers"])


@router.get("/providers")
async def list_providers(registry: Registry, gateway: GatewayState) -> list[ProviderOut]:
    """Every provider, and whether it is configured (its API key set; Ollama: its server answers)."""
    await registry.refresh()
    return [
        ProviderOut(
            id=p.id,
            name=p.name,
            description=p.description,
            supported=p.supported,
            configured=p.configured,
            **gateway.breaker.state(p.id),
        )
        for p in registry.all()
    ]
