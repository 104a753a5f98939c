"""GET /metrics: the Prometheus scrape, at the root; behind a bearer token when METRICS_TOKEN is set."""

import secrets

from fastapi import APIRouter, Request, Response

from models import ApiError
from routers.deps import AppSettings
from routers.errors import ErrorOut

router = APIRouter(tags=["observability"])


class MetricsTokenRequired(ApiError):
    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition"},
        401: {"model": ErrorOut, "description": "METRICS_TOKEN is set and this is not it"},
    },
)
async def metrics(request: Request, settings: AppSettings) -> Response:
    """Requests, replies, time to first token, durations, tokens, running generations, database time."""
    if settings.metrics_token is not None:
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode()):
            raise MetricsTokenRequired("GET /metrics needs the header Authorization: Bearer <METRICS_TOKEN>")
    collected = request.app.state.metrics
    return Response(collected.render(), media_type=collected.content_type)
