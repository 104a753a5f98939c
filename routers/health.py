from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

import database
from models import HealthOut
from routers.deps import AppSettings, Db

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(db: Db, settings: AppSettings) -> HealthOut:
    """Service status, version, and whether the database answers."""
    try:
        reachable = await db.run(database.ping)
    except SQLAlchemyError:
        reachable = False
    return HealthOut(
        status="ok" if reachable else "degraded", version=settings.app_version, database=reachable
    )
