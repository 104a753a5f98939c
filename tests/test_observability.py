"""GET /metrics (scraped and parsed with prometheus_client's parser), request ids, JSON logs."""

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app_factory import create_app
from tests.conftest import ChatCall, ServeApp, SettingsFactory, chat_body
from tests.fakes.openai_vendor import FakeOpenAIVendor, Reply, chunk, sse, text_stream
from tests.fakes.otlp_collector import FakeCollector
from tests.fakes.server import ServerThread
from tests.service_process import ServiceProcess

pytestmark = pytest.mark.timeout(60)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, **headers: str) -> Samples:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_requests_replies_tokens_and_database_time(
    client: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply(text_stream("Hello", " there")), Reply(status=500))
    first = await chat(client, chat_body("deepseek", "hi"))
    session_id = first.events[0]["session_id"]
    await chat(client, chat_body("deepseek", "again", session_id=session_id))
    for _ in range(2):
        assert (await client.get(f"/api/v1/sessions/{session_id}")).status_code == 200
    assert (await client.get("/api/v1/sessions/999")).status_code == 404
    samples = await scrape(client)
    route = "/api/v1/sessions/{session_id}"
    assert value(samples, "http_requests_total", method="GET", route=route, status="200") == 2
    assert value(samples, "http_requests_total", method="GET", route=route, status="404") == 1
    assert value(samples, "http_requests_total", method="POST", route="/api/v1/chat", status="200") == 2
    assert value(samples, "http_request_duration_seconds_count", method="GET", route=route) == 3
    assert value(samples, "chat_replies_total", provider="deepseek", status="complete") == 1
    assert value(samples, "chat_replies_total", provider="deepseek", status="error") == 1
    # A reply that failed before any output has no time to first token; both have a duration.
    assert value(samples, "chat_time_to_first_token_seconds_count", provider="deepseek") == 1
    assert value(samples, "chat_reply_duration_seconds_count", provider="deepseek") == 2
    assert value(samples, "chat_tokens_total", provider="deepseek", kind="prompt") == 5
    assert value(samples, "chat_tokens_total", provider="deepseek", kind="completion") == 7
    assert value(samples, "chat_generations_running") == 0
    assert value(samples, "database_unit_seconds_count") >= 4


async def test_running_generations_are_counted_while_they_run(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    vendor.queue(Reply([sse(chunk("slow"))], stall=1.0))
    body = chat_body("deepseek", "hi", stream=False)
    pending = asyncio.ensure_future(client.post("/api/v1/chat", json=body))
    async with asyncio.timeout(5):
        while value(await scrape(client), "chat_generations_running") != 1:
            await asyncio.sleep(0.02)
    assert (await pending).status_code == 200
    assert value(await scrape(client), "chat_generations_running") == 0


async def test_metrics_need_the_bearer_token_when_one_is_set(
    serve: ServeApp, make_settings: SettingsFactory
) -> None:
    async with serve(make_settings(metrics_token="s3cret")) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            assert (
                refused.json()["detail"]
                == "GET /metrics needs the header Authorization: Bearer <METRICS_TOKEN>"
            )
        assert (
            "http_requests_total"
            in (await http.get("/metrics", headers={"Authorization": "Bearer s3cret"})).text
        )


async def test_the_request_id_is_answered_and_sent_to_the_vendor(
    client: httpx.AsyncClient, chat: ChatCall, vendor: FakeOpenAIVendor
) -> None:
    given = await client.post(
        "/api/v1/chat", json=chat_body("deepseek", "hi", stream=False), headers={"X-Request-Id": "req-42"}
    )
    assert given.headers["x-request-id"] == "req-42"
    made = await client.post("/api/v1/chat", json=chat_body("deepseek", "hi", stream=False))
    made_id = made.headers["x-request-id"]
    assert len(made_id) == 32 and made_id != "req-42"
    # An id that could break a log line is replaced.
    forged = await client.get("/health", headers={"X-Request-Id": "a b\tc"})
    assert forged.headers["x-request-id"] != "a b\tc"
    assert [r.headers.get("x-request-id") for r in vendor.requests] == ["req-42", made_id]


def test_json_logs_carry_the_request_id(tmp_path: Path) -> None:
    fake = FakeOpenAIVendor()
    fake.queue(Reply(status=500))
    with ServerThread(fake.app) as vendor_server:
        process = ServiceProcess(
            tmp_path / "service.log",
            LOG_FORMAT="json",
            DATABASE_URL=f"sqlite:///{tmp_path / 'chat.db'}",
            DEEPSEEK_API_KEY="k",
            DEEPSEEK_BASE_URL=f"{vendor_server.url}/v1",
            PROVIDER_MAX_RETRIES="0",
            UPLOAD_DIR=str(tmp_path / "uploads"),
            API_PREFIX="/api/v1",
        )
        with process:
            answer = httpx.post(
                f"{process.url}/api/v1/chat",
                json=chat_body("deepseek", "hi", stream=False),
                headers={"X-Request-Id": "trace-7"},
                timeout=10,
                trust_env=False,
            )
            assert answer.status_code == 502
    lines = [json.loads(line) for line in process.log_path.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    traced = [line for line in lines if line.get("request_id") == "trace-7"]
    assert any(
        line["logger"] == "uvicorn.access" and "POST /api/v1/chat" in line["message"] for line in traced
    )
    assert fake.requests[0].headers["x-request-id"] == "trace-7"


async def test_traces_reach_the_otlp_collector_with_the_reply_under_its_request(
    make_settings: SettingsFactory, vendor: FakeOpenAIVendor
) -> None:
    collector = FakeCollector()
    with ServerThread(collector.app) as collector_server:
        settings = make_settings(
            otel_exporter_otlp_endpoint=collector_server.url, otel_service_name="chat-test"
        )
        # The app's lifespan ends inside the block: its provider's shutdown sends the last spans.
        with ServerThread(create_app(settings), lifespan="on") as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                answer = await http.post("/api/v1/chat", json=chat_body("deepseek", "hi", stream=False))
                assert answer.status_code == 200
    assert set(collector.content_types) == {"application/x-protobuf"}
    (request_span,) = [s for s in collector.spans if s.attributes.get("http.route") == "/api/v1/chat"]
    (reply,) = [s for s in collector.spans if s.name == "chat.reply"]
    assert request_span.service == reply.service == "chat-test"
    assert request_span.kind == 2  # SERVER
    assert request_span.attributes["http.request.method"] == "POST"
    assert reply.trace_id == request_span.trace_id
    assert reply.attributes["chat.provider"] == "deepseek"
    assert reply.attributes["chat.status"] == "complete"
    # The vendor was called inside the reply's span: its traceparent names that trace and span.
    traceparent = vendor.requests[0].headers["traceparent"]
    assert traceparent.split("-")[1:3] == [reply.trace_id, reply.span_id]
