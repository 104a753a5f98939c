from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from gateway.usage import GroupBy, report, usage_rows
from models import ApiError
from routers.deps import Db, GatewayState

router = APIRouter(tags=["usage"])


class InvalidPeriod(ApiError):
    status_code = 422


def _utc(moment: datetime | None) -> datetime | None:
    # A time without a zone is UTC, as the stored ones are.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@router.get("/usage")
async def get_usage(
    db: Db,
    gateway: GatewayState,
    start: Annotated[datetime | None, Query(alias="from", description="From this time on (ISO 8601)")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="Before this time (ISO 8601)")] = None,
    group_by: GroupBy = "provider",
) -> dict[str, Any]:
    """Token usage and cost of the replies in [from, to), grouped, with totals."""
    start, end = _utc(start), _utc(end)
    if start is not None and end is not None and start >= end:
        raise InvalidPeriod(f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
    rows = await db.run(usage_rows, start, end)
    period = {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None}
    return {**period, **report(rows, group_by, gateway.prices)}
