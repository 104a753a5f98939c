"""OpenTelemetry traces, exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set.

FastAPI's own telemetry makes a server span per request (given the provider built here, never the
global one, so apps made by tests do not share one); each reply gets a span of its own, a child of
its request's even though it outlives it, and the vendor call carries the W3C trace context.
"""

import asyncio
import contextlib
from collections.abc import Iterator

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, Tracer

from config import Settings
from generation.running import Generation


def tracer_provider(settings: Settings) -> TracerProvider | None:
    """A provider exporting to the OTLP endpoint's /v1/traces; None when no endpoint is set."""
    if not settings.otel_exporter_otlp_endpoint:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    exporter = OTLPSpanExporter(endpoint=f"{settings.otel_exporter_otlp_endpoint.rstrip('/')}/v1/traces")
    # Spans are sent from the processor's own thread, in batches: never on the event loop.
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


async def shutdown(provider: TracerProvider | None) -> None:
    """Send the spans still queued, then stop (blocking: on a thread)."""
    if provider is not None:
        await asyncio.to_thread(provider.shutdown)


@contextlib.contextmanager
def reply_span(tracer: Tracer | None, generation: Generation) -> Iterator[Span | None]:
    """The span of one reply, from launch to its stored end; its outcome set as it closes."""
    if tracer is None:
        yield None
        return
    attributes: dict[str, str | int] = {
        "chat.provider": generation.provider.id,
        "chat.model": generation.request.model,
        "chat.session_id": generation.session_id,
        "chat.message_id": generation.message_id,
    }
    with tracer.start_as_current_span("chat.reply", attributes=attributes) as span:
        try:
            yield span
        finally:
            span.set_attribute("chat.status", generation.reply.status)
            if generation.reply.finish_reason:
                span.set_attribute("chat.finish_reason", generation.reply.finish_reason)
