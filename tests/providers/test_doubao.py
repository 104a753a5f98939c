"""Doubao (Volcengine Ark) through the public HTTP API, against a fake Ark on 127.0.0.1."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from app_factory import create_app
from providers.doubao import DoubaoProvider, profile_for
from tests.accounts import required, sign_up
from tests.conftest import SettingsFactory, vendor_failure
from tests.fakes.ark_vendor import IMAGE_BYTES, VIDEO_BYTES, FakeArkVendor, JsonReply, auth_error
from tests.fakes.openai_vendor import Reply
from tests.fakes.server import ServerThread

CHAT_MODEL = "doubao-seed-1-6-250615"
IMAGE_MODEL = "doubao-seedream-4-0-250828"
VIDEO_MODEL = "doubao-seedance-1-0-pro-250528"
PIXEL = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


@pytest.fixture
def ark() -> Iterator[FakeArkVendor]:
    fake = FakeArkVendor()
    with ServerThread(fake.app) as server:
        fake.url = f"{server.url}/api/v3"  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DoubaoProvider, "poll_interval", 0.01)


@pytest.fixture
async def http(
    make_settings: SettingsFactory, ark: FakeArkVendor, uploads: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(doubao_api_key="k", doubao_base_url=ark.url, upload_dir=uploads)  # type: ignore[attr-defined]
    with ServerThread(create_app(settings), lifespan="on") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield client


# A client that leaves its stream and stops the reply itself (POST /chat/{id}/stop).
RESUMABLE = {"X-Resumable": "1"}


def turn(model: str, content: str = "hi", images: list[str] | None = None, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "user", "content": content}
    if images:
        message["images"] = images
    return {"provider": "doubao", "model": model, "messages": [message], **fields}


async def post(http: httpx.AsyncClient, body: dict[str, Any]) -> tuple[int, list[dict[str, Any]], Any]:
    """POST /chat: the status, the SSE events (when it streamed) and the JSON body (when not)."""
    async with asyncio.timeout(10), aconnect_sse(http, "POST", "/api/v1/chat", json=body) as source:
        response = source.response
        if not response.headers["content-type"].startswith("text/event-stream"):
            await response.aread()
            return response.status_code, [], response.json()
        return response.status_code, [json.loads(e.data) async for e in source.aiter_sse()], None


async def stored_reply(http: httpx.AsyncClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    detail = (await http.get(f"/api/v1/sessions/{events[0]['session_id']}")).json()
    return detail["messages"][-1]  # type: ignore[no-any-return]


def picked(events: list[dict[str, Any]], key: str) -> list[Any]:
    return [e[key] for e in events if key in e]


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        (CHAT_MODEL, "chat"),
        ("ep-20250601123456-abcde", "chat"),
        (IMAGE_MODEL, "image"),
        ("doubao-seededit-3-0-i2i-250628", "image"),
        (VIDEO_MODEL, "video"),
        ("doubao-seedance-1-0-lite-t2v-250428", "video"),
    ],
)
def test_each_model_kind_is_declared_by_its_id(model: str, kind: str) -> None:
    assert profile_for(model).kind == kind


@pytest.mark.parametrize(
    ("thinking", "wire"),
    [(True, "enabled"), (False, "disabled"), ("auto", "auto"), ({"type": "disabled"}, "disabled")],
)
async def test_chat_streams_reasoning_and_sends_thinking_in_ark_form(
    http: httpx.AsyncClient, ark: FakeArkVendor, thinking: bool | str | dict[str, str], wire: str
) -> None:
    status, events, _ = await post(
        http, turn(CHAT_MODEL, "9.9 和 9.11 哪个大？", thinking=thinking, duration=5)
    )
    assert status == 200
    assert "".join(picked(events, "reasoning")) == "用户问9.9 和 9.11哪个大。"
    assert "".join(picked(events, "content")) == "9.9 更大。"
    assert picked(events, "usage")[0]["completion_tokens_details"] == {"reasoning_tokens": 47}
    assert events[-1] == {"done": True}
    sent = ark.sent("/chat/completions")[0]
    assert sent.headers["authorization"] == "Bearer k"
    assert sent.body["thinking"] == {"type": wire}
    assert "duration" not in sent.body  # a video knob is dropped for a chat model
    stored = await stored_reply(http, events)
    assert (stored["content"], stored["thought_process"]) == ("9.9 更大。", "用户问9.9 和 9.11哪个大。")


async def test_knobs_of_another_kind_of_model_are_named_in_x_ignored_parameters(
    http: httpx.AsyncClient, ark: FakeArkVendor
) -> None:
    body = turn(CHAT_MODEL, "hi", duration=5, size="2K", temperature=0.2, stream=False)
    async with asyncio.timeout(10):
        response = await http.post("/api/v1/chat", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-ignored-parameters"] == "duration, size"
    sent = ark.sent("/chat/completions")[0].body
    assert sent["temperature"] == 0.2
    assert "duration" not in sent and "size" not in sent


async def test_chat_media_go_as_image_url_and_video_url_parts_with_their_settings(
    http: httpx.AsyncClient, ark: FakeArkVendor
) -> None:
    body = turn(CHAT_MODEL, "describe", images=[PIXEL], image_detail="high", fps=2, max_frames=8)
    body["messages"][0]["videos"] = ["https://example.com/clip.mp4"]
    body["image_pixel_limit"] = {"max_pixels": 1_000_000, "min_pixels": 3136}
    async with asyncio.timeout(10):
        response = await http.post("/api/v1/chat", json={**body, "stream": False})
    assert response.status_code == 200, response.text
    assert response.headers["x-ignored-parameters"] == "max_frames"
    image = {
        "url": PIXEL,
        "detail": "high",
        "image_pixel_limit": {"max_pixels": 1_000_000, "min_pixels": 3136},
    }
    assert ark.sent("/chat/completions")[0].body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "describe"},
                {"type": "image_url", "image_url": image},
                {"type": "video_url", "video_url": {"url": "https://example.com/clip.mp4", "fps": 2}},
            ],
        }
    ]


async def test_audio_is_refused_with_422_naming_the_provider(http: httpx.AsyncClient) -> None:
    body = turn(CHAT_MODEL)
    body["messages"][0]["audios"] = ["https://example.com/a.mp3"]
    status, _, answer = await post(http, body)
    assert status == 422 and "doubao" in answer["detail"] and "audio" in answer["detail"]


async def test_seedream_forwards_its_options_and_stores_the_downloaded_images(
    http: httpx.AsyncClient, ark: FakeArkVendor, uploads: Path
) -> None:
    options = {
        "sequential_image_generation": "auto",
        "max_images": 2,
        "watermark": False,
        "prompt_optimize_mode": "fast",
        "size": "2K",
        "seed": 42,
        "temperature": 0.3,
    }
    status, events, _ = await post(http, turn(IMAGE_MODEL, "两只橘猫", images=[PIXEL], **options))
    assert status == 200
    assert ark.sent("/images/generations")[0].body == {
        "model": IMAGE_MODEL,
        "prompt": "两只橘猫",
        "image": PIXEL,
        "sequential_image_generation": "auto",
        "sequential_image_generation_options": {"max_images": 2},
        "watermark": False,
        "optimize_prompt_options": {"mode": "fast"},
        "size": "2K",
        "seed": 42,
    }
    [images] = picked(events, "images")
    assert len(images) == 2 and all(url.startswith("/uploads/") and url.endswith(".jpg") for url in images)
    assert (uploads / images[0].removeprefix("/uploads/")).read_bytes() == IMAGE_BYTES
    assert (await http.get(images[1])).content == IMAGE_BYTES + b"-1"
    assert picked(events, "usage") == [{"generated_images": 2, "output_tokens": 32640, "total_tokens": 32640}]
    assert events[-1] == {"done": True}
    stored = await stored_reply(http, events)
    assert (stored["images"], stored["status"]) == (images, "complete")


async def test_seedream_base64_results_are_saved_and_blocked_images_skipped(
    http: httpx.AsyncClient, ark: FakeArkVendor, uploads: Path
) -> None:
    blocked = {"error": {"code": "OutputImageSensitiveContentDetected", "message": "sensitive"}}
    data = [{"b64_json": base64.b64encode(b"png-bytes").decode(), "output_format": "png"}, blocked]
    ark.image_replies.append(JsonReply(body={"model": IMAGE_MODEL, "created": 1, "data": data}))
    status, events, _ = await post(http, turn(IMAGE_MODEL, "a cat"))
    assert status == 200
    [[url]] = picked(events, "images")
    assert url.endswith(".png") and (uploads / url.removeprefix("/uploads/")).read_bytes() == b"png-bytes"
    assert ark.downloads == []


async def test_seedream_with_every_image_blocked_ends_with_an_error_naming_the_reason(
    http: httpx.AsyncClient, ark: FakeArkVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DoubaoProvider, "poll_interval", 5.0)  # no progress event before the answer
    blocked = {"error": {"code": "OutputImageSensitiveContentDetected", "message": "sensitive output"}}
    ark.image_replies.append(JsonReply(body={"model": IMAGE_MODEL, "created": 1, "data": [blocked]}))
    detail, _ = await vendor_failure(http, turn(IMAGE_MODEL, "a cat"), 400)
    assert detail == "doubao: no image was generated: sensitive output"


async def test_seedance_streams_progress_then_stores_the_downloaded_video(
    http: httpx.AsyncClient, ark: FakeArkVendor, uploads: Path
) -> None:
    ark.task_states.extend(["queued", "running", "running", "succeeded"])
    options = {
        "resolution": "720p",
        "ratio": "16:9",
        "duration": 5,
        "generate_audio": True,
        "draft": False,
        "camera_fixed": True,
        "seed": 7,
        "watermark": False,
        "max_images": 3,
    }
    status, events, _ = await post(http, turn(VIDEO_MODEL, "小猫打哈欠", images=[PIXEL], **options))
    assert status == 200
    assert picked(events, "progress") == [
        {"status": "queued", "percent": None},
        {"status": "running", "percent": None},
        {"status": "running", "percent": None},
    ]
    [[video]] = picked(events, "videos")
    assert video.endswith(".mp4") and (uploads / video.removeprefix("/uploads/")).read_bytes() == VIDEO_BYTES
    assert picked(events, "usage") == [{"completion_tokens": 246840, "total_tokens": 246840}]
    assert events[-1] == {"done": True}
    created = ark.sent("/contents/generations/tasks")[0].body
    assert created == {
        "model": VIDEO_MODEL,
        "content": [
            {"type": "text", "text": "小猫打哈欠"},
            {"type": "image_url", "image_url": {"url": PIXEL}},
        ],
        **{key: value for key, value in options.items() if key != "max_images"},
    }
    assert len(ark.sent("/contents/generations/tasks/cgt-20250818093015-8lq2v")) == 4
    stored = await stored_reply(http, events)
    assert (stored["videos"], stored["status"]) == ([video], "complete")


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (
            "failed",
            "video task failed: The request failed because the output video may contain sensitive"
            " information.",
        ),
        ("expired", "video task expired: not finished within 172800 s"),
    ],
)
async def test_a_video_task_that_does_not_succeed_ends_with_an_error_event(
    http: httpx.AsyncClient, ark: FakeArkVendor, state: str, reason: str
) -> None:
    ark.task_states.extend(["running", state])
    status, events, _ = await post(http, turn(VIDEO_MODEL, "a cat"))
    assert status == 200
    assert picked(events, "progress") == [{"status": "running", "percent": None}]
    assert events[-2:] == [{"error": f"doubao: {reason}"}, {"done": True}]
    assert "videos" not in str(events)
    stored = await stored_reply(http, events)
    assert (stored["status"], stored["error"], stored["videos"]) == ("error", f"doubao: {reason}", None)


@pytest.mark.parametrize("model", [CHAT_MODEL, VIDEO_MODEL])
async def test_a_rejected_api_key_is_a_502_naming_the_vendor_and_the_key(
    http: httpx.AsyncClient, ark: FakeArkVendor, model: str
) -> None:
    ark.queue(Reply(status=401, error=auth_error()))
    ark.task_replies.append(JsonReply(401, auth_error()))
    detail, body = await vendor_failure(http, turn(model, stream=False), 502)
    assert body["provider"] == "doubao"
    assert detail.startswith("doubao: the vendor rejected the API key (401): the API key or AK/SK")


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_images", 16), ("duration", 1), ("sequential_image_generation", "sometimes"), ("seed", -2)],
)
async def test_out_of_range_generation_options_are_a_422_naming_the_field(
    http: httpx.AsyncClient, ark: FakeArkVendor, field: str, value: Any
) -> None:
    response = await http.post("/api/v1/chat", json=turn(IMAGE_MODEL, **{field: value}))
    assert response.status_code == 422
    assert field in response.text
    assert ark.requests == []


async def test_stopping_a_video_reply_cancels_the_vendor_task(
    http: httpx.AsyncClient, ark: FakeArkVendor
) -> None:
    ark.task_states.extend(["queued"] * 500)
    body = turn(VIDEO_MODEL)
    async with (
        asyncio.timeout(10),
        aconnect_sse(http, "POST", "/api/v1/chat", json=body, headers=RESUMABLE) as src,
    ):
        events = []
        async for event in src.aiter_sse():
            events.append(json.loads(event.data))
            if "progress" in events[-1]:
                break
    stopped = await http.post(f"/api/v1/chat/{events[1]['message_id']}/stop")
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopped"
    task_id = json.loads(
        (Path(__file__).parents[1] / "fakes/wire/ark-seedance-create-response.json").read_text()
    )["id"]
    assert ark.cancelled == [task_id]


async def test_a_generated_image_is_served_to_the_owner_of_its_session_only(
    make_settings: SettingsFactory, ark: FakeArkVendor, uploads: Path
) -> None:
    settings = make_settings(
        **required(doubao_api_key="k", doubao_base_url=ark.url, upload_dir=uploads)  # type: ignore[attr-defined]
    )
    with ServerThread(create_app(settings), lifespan="on") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            alice, bob = await sign_up(http, "alice"), await sign_up(http, "bob")
            answer = await http.post(
                "/api/v1/chat", json=turn(IMAGE_MODEL, "a cat", stream=False), headers=alice.headers
            )
            [url, *_] = answer.json()["message"]["images"]
            mine = await http.get(url, headers=alice.headers)
            theirs = await http.get(url, headers=bob.headers)
    assert (mine.status_code, mine.content) == (200, IMAGE_BYTES)
    assert theirs.status_code == 404
