"""Token usage and cost over a period, grouped by provider, model, session or user (GET /usage).

Every assistant reply whose vendor stated its usage counts. Its cost is the one stored with it
(the front door prices each reply as it ends); a reply stored without one (through the chat API)
is priced from the table now; a model the table does not list counts as unpriced.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from database import MESSAGES, SESSIONS
from gateway.pricing import PriceTable, tokens

GroupBy = Literal["provider", "model", "session", "user"]
COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")


def usage_rows(db: Session, user_id: int, start: datetime | None, end: datetime | None) -> Sequence[Any]:
    """The replies of `user_id`'s sessions made in [start, end)."""
    owned = select(SESSIONS.c.id).where(SESSIONS.c.user_id == user_id)
    query = select(MESSAGES.c.session_id, MESSAGES.c.provider, MESSAGES.c.model, MESSAGES.c.usage).where(
        MESSAGES.c.role == "assistant", MESSAGES.c.session_id.in_(owned)
    )
    if start is not None:
        query = query.where(MESSAGES.c.created_at >= start)
    if end is not None:
        query = query.where(MESSAGES.c.created_at < end)
    return db.execute(query).all()


def group_key(row: Row[Any], group_by: GroupBy) -> str | int | None:
    match group_by:
        case "provider":
            return str(row.provider)
        case "model":
            return f"{row.provider}/{row.model}"
        case "session":
            return int(row.session_id)
    user = row.usage.get("user")
    return user if isinstance(user, str) else None


def _empty() -> dict[str, Any]:
    return {"requests": 0, **dict.fromkeys(COUNTS, 0), "cost": 0.0, "unpriced": 0}


def _add(total: dict[str, Any], usage: dict[str, Any], cost: float | None) -> None:
    total["requests"] += 1
    for key in COUNTS:
        total[key] += tokens(usage, key)
    if cost is None:
        total["unpriced"] += 1
    else:
        total["cost"] = round(total["cost"] + cost, 10)


def report(rows: Sequence[Row[Any]], group_by: GroupBy, prices: PriceTable) -> dict[str, Any]:
    groups: dict[str | int | None, dict[str, Any]] = {}
    totals = _empty()
    for row in rows:
        usage = row.usage
        if not isinstance(usage, dict) or not usage:
            continue
        stored = usage.get("cost")
        cost = (
            stored
            if isinstance(stored, int | float)
            else prices.cost(row.provider or "", row.model or "", usage)
        )
        _add(groups.setdefault(group_key(row, group_by), _empty()), usage, cost)
        _add(totals, usage, cost)
    ordered = sorted(groups.items(), key=lambda item: (-item[1]["total_tokens"], str(item[0])))
    return {
        "group_by": group_by,
        "groups": [{"key": key, **total} for key, total in ordered],
        "totals": totals,
    }
