from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from auth.current_user import CurrentUser
from gateway.usage import GroupBy, report, usage_rows
from models import ApiError
from routers.deps import Db, GatewayState
from routers.errors import InvalidOut, Responses

router = APIRouter(tags=["usage"])


class InvalidPeriod(ApiError):
    status_code = 422


def _iso_only(value: object) -> object:
    # A bare number would pass as a Unix time; the schema says ISO 8601, and so does this.
    try:
        float(str(value))
    except ValueError:
        return value
    raise ValueError("must be an ISO 8601 time, such as 2026-12-01T00:00:00Z")


Moment = Annotated[datetime | None, BeforeValidator(_iso_only)]


def _utc(moment: datetime | None) -> datetime | None:
    # A time without a zone is UTC, as the stored ones are.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


REFUSED: Responses = {
    422: {"model": InvalidOut, "description": "A bad query parameter (named), or `from` not before `to`"}
}


@router.get("/usage", responses=REFUSED)
async def get_usage(
    db: Db,
    gateway: GatewayState,
    user: CurrentUser,
    start: Annotated[Moment, Query(alias="from", description="From this time on (ISO 8601)")] = None,
    end: Annotated[Moment, Query(alias="to", description="Before this time (ISO 8601)")] = None,
    group_by: GroupBy = "provider",
) -> dict[str, Any]:
    """Token usage and cost of the caller's replies in [from, to), grouped, with totals."""
    start, end = _utc(start), _utc(end)
    if start is not None and end is not None and start >= end:
        raise InvalidPeriod(f"from ({start.isoformat()}) must be before to ({end.isoformat()})")
    rows = await db.run(usage_rows, user.id, start, end)
    period = {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None}
    return {**period, **report(rows, group_by, gateway.prices)}
