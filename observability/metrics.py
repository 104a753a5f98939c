"""Prometheus metrics of one app, on a registry of its own (apps made by tests never share one).

Requests are counted by route template, never by raw path, so ids in paths make no new series.
A reply's figures are taken once, when it ends (nothing per chunk); the running generations and
the database's units of work are read where they happen.
"""

import functools
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from generation.running import Generation

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Time to first token and reply durations span milliseconds (a fast vendor) to minutes (reasoning).
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
DURATION_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
# Token counts a usage report may carry, by the names the providers normalize them to.
TOKEN_KINDS = ("prompt_tokens", "completion_tokens", "reasoning_tokens")


class Metrics:
    content_type = CONTENT_TYPE

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "http_request_duration_seconds",
            "Time to answer, whole streams included",
            ["method", "route"],
            registry=r,
        )
        self.replies = Counter("chat_replies", "Replies ended, by how", ["provider", "status"], registry=r)
        self.ttft = Histogram(
            "chat_time_to_first_token_seconds",
            "From launch to the first output",
            ["provider"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.reply_seconds = Histogram(
            "chat_reply_duration_seconds",
            "From launch to the end of the reply",
            ["provider"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("chat_tokens", "Tokens the vendors reported", ["provider", "kind"], registry=r)
        self.running = Gauge("chat_generations_running", "Replies being generated now", registry=r)
        self.db_seconds = Histogram(
            "database_unit_seconds",
            "Time of one unit of work on the database",
            buckets=DB_BUCKETS,
            registry=r,
        )

    def count_running(self, count: Callable[[], int]) -> None:
        self.running.set_function(count)

    def observe_database(self, seconds: float) -> None:
        self.db_seconds.observe(seconds)

    def reply_ended(self, generation: Generation) -> None:
        provider = generation.provider.id
        pace, reply = generation.pace, generation.reply
        self.replies.labels(provider, reply.status).inc()
        self.reply_seconds.labels(provider).observe(time.monotonic() - pace.began_at)
        if pace.first_output_at is not None:
            self.ttft.labels(provider).observe(pace.first_output_at - pace.began_at)
        for kind in TOKEN_KINDS:
            value = (reply.usage or {}).get(kind)
            if isinstance(value, int) and value > 0:
                self.tokens.labels(provider, kind.removesuffix("_tokens")).inc(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route's path template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._route_of: Callable[[str], str] | None = None

    def _route(self, scope: Scope) -> str:
        """The documented path template `scope` matched; "other" for the rest (static files, docs)."""
        if self._route_of is None:
            # The schema's paths carry their routers' prefixes, which a matched route's own `path`
            # does not, included routers being kept apart.
            templates = [
                (compile_path(template)[0], template) for template in scope["app"].openapi()["paths"]
            ]

            # A scan of every template per request costs more than the rest of this middleware; the
            # paths a service sees again and again (a chat's, a session's) are looked up once.
            @functools.lru_cache(maxsize=2048)
            def route_of(path: str) -> str:
                return next((template for regex, template in templates if regex.match(path)), "other")

            self._route_of = route_of
        return self._route_of(scope["path"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            route, method = self._route(scope), scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.request_seconds.labels(method, route).observe(time.perf_counter() - started)
