"""GET /metrics: the Prometheus scrape, at the root.

Behind a bearer token of its own when METRICS_TOKEN is set (what a scraper is given); without one,
with AUTH_MODE=required, an admin's credential (the counts are the whole service's, not one user's).
"""

import secrets

from fastapi import APIRouter, Request, Response

from auth.current_user import admin_user, bearer_token, user_from_token
from auth.service import AuthService
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
        401: {"model": ErrorOut, "description": "METRICS_TOKEN is set and this is not it, or no credential"},
        403: {"model": ErrorOut, "description": "AUTH_MODE=required, no METRICS_TOKEN, and not an admin"},
    },
)
async def metrics(request: Request, settings: AppSettings) -> Response:
    """Requests, replies, time to first token, durations, tokens, running generations, database time."""
    if settings.metrics_token is not None:
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode()):
            raise MetricsTokenRequired("GET /metrics needs the header Authorization: Bearer <METRICS_TOKEN>")
    else:
        auth: AuthService = request.app.state.auth
        if not auth.off:
            await admin_user(await user_from_token(bearer_token(request.headers.get("authorization")), auth))
    collected = request.app.state.metrics
    return Response(collected.render(), media_type=collected.content_type)
