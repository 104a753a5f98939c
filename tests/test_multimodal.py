import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from config import Settings
from tests import media_samples as samples
from tests.fakes.openai_vendor import FakeOpenAIVendor

MODELS = {"openai": "gpt-4o", "siliconflow": "Qwen/Qwen3-VL-32B-Instruct", "deepseek": "deepseek-chat"}
REMOTE_IMAGE = "https://media.example.invalid/cat.png"  # .invalid: a fetch by the service would fail


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], upload_dir: Path) -> Settings:
    return make_settings(upload_dir=upload_dir)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def upload(client: httpx.AsyncClient, data: bytes) -> str:
    response = await client.post("/api/v1/upload", files={"file": ("f", data, "application/octet-stream")})
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


async def chat(
    client: httpx.AsyncClient, provider: str, content: str = "what is this?", **fields: Any
) -> httpx.Response:
    media = {key: fields.pop(key) for key in ("images", "videos", "audios", "documents") if key in fields}
    body = {
        "provider": provider,
        "model": MODELS[provider],
        "stream": False,
        "messages": [{"role": "user", "content": content, **media}],
        **fields,
    }
    return await client.post("/api/v1/chat", json=body)


def last_user_content(vendor: FakeOpenAIVendor) -> Any:
    return vendor.requests[-1].body["messages"][-1]["content"]


async def test_uploaded_image_goes_as_a_data_url_with_detail(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    image = samples.png()
    url = await upload(client, image)
    response = await chat(client, "openai", images=[url], image_detail="low")
    assert response.status_code == 200, response.text
    assert last_user_content(vendor) == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(image)}", "detail": "low"}},
    ]
    assert response.json()["message"]["content"] == "Hello world"


async def test_remote_image_goes_as_its_url_and_data_url_as_sent(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    inline = f"data:image/jpeg;base64,{b64(samples.jpeg())}"
    response = await chat(client, "openai", images=[REMOTE_IMAGE, inline])
    assert response.status_code == 200, response.text
    # No `detail` when the client sent none: the vendor's default applies.
    assert last_user_content(vendor)[1:] == [
        {"type": "image_url", "image_url": {"url": REMOTE_IMAGE}},
        {"type": "image_url", "image_url": {"url": inline}},
    ]


async def test_openai_takes_audio_as_input_audio_base64_with_format(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    sound = samples.wav()
    url = await upload(client, sound)
    mp3 = "data:audio/mpeg;base64,SUQzBAAAAAAAAA=="
    response = await chat(client, "openai", "transcribe", audios=[url, mp3])
    assert response.status_code == 200, response.text
    assert last_user_content(vendor) == [
        {"type": "text", "text": "transcribe"},
        {"type": "input_audio", "input_audio": {"data": b64(sound), "format": "wav"}},
        {"type": "input_audio", "input_audio": {"data": "SUQzBAAAAAAAAA==", "format": "mp3"}},
    ]


async def test_siliconflow_takes_video_url_with_its_settings_and_audio_url(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    clip = samples.mp4()
    url = await upload(client, clip)
    response = await chat(
        client,
        "siliconflow",
        "what happens?",
        images=[REMOTE_IMAGE],
        videos=[url],
        audios=["https://media.example.invalid/voice.mp3"],
        image_detail="high",
        video_detail="low",
        fps=2,
        max_frames=8,
    )
    assert response.status_code == 200, response.text
    assert last_user_content(vendor) == [
        {"type": "text", "text": "what happens?"},
        {"type": "image_url", "image_url": {"url": REMOTE_IMAGE, "detail": "high"}},
        {
            "type": "video_url",
            "video_url": {
                "url": f"data:video/mp4;base64,{b64(clip)}",
                "detail": "low",
                "fps": 2,
                "max_frames": 8,
            },
        },
        {"type": "audio_url", "audio_url": {"url": "https://media.example.invalid/voice.mp3"}},
    ]
    # Media settings shape the parts; they are never sent as request parameters.
    assert not {"fps", "max_frames", "video_detail", "image_detail"} & set(vendor.requests[-1].body)


async def assert_nothing_stored(client: httpx.AsyncClient, vendor: FakeOpenAIVendor) -> None:
    assert (await client.get("/api/v1/sessions")).json() == []
    assert vendor.requests == []


@pytest.mark.parametrize(
    ("provider", "media", "detail"),
    [
        (
            "openai",
            {"videos": ["https://media.example.invalid/a.mp4"]},
            "'openai' (OpenAI) does not accept video",
        ),
        (
            "deepseek",
            {"audios": ["data:audio/wav;base64,UklGRg=="]},
            "'deepseek' (DeepSeek) does not accept audio",
        ),
        (
            "openai",
            {"audios": ["https://media.example.invalid/a.wav"]},
            "'openai' (OpenAI) cannot take audio as a URL",
        ),
        (
            "openai",
            {"audios": ["data:audio/ogg;base64,T2dnUw=="]},
            "takes audio only as audio/mp3, audio/mpeg",
        ),
        ("openai", {"images": ["data:audio/wav;base64,UklGRg=="]}, "is audio/wav, not an image"),
        (
            "deepseek",
            {"documents": [f"data:application/pdf;base64,{b64(samples.pdf())}"]},
            "does not accept document",
        ),
        ("openai", {"documents": ["https://media.example.invalid/a.pdf"]}, "cannot take document as a URL"),
        (
            "openai",
            {"documents": [f"data:image/png;base64,{b64(samples.png())}"]},
            "is image/png, not a document",
        ),
    ],
    ids=[
        "kind-not-taken",
        "kind-not-taken-2",
        "remote-where-bytes-needed",
        "format-not-taken",
        "wrong-kind",
        "document-not-taken",
        "document-url-where-bytes-needed",
        "image-as-document",
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_media_the_provider_cannot_take_is_422_and_stores_nothing(
    client: httpx.AsyncClient,
    vendor: FakeOpenAIVendor,
    provider: str,
    media: dict[str, list[str]],
    detail: str,
    stream: bool,
) -> None:
    response = await chat(client, provider, stream=stream, **media)
    assert response.status_code == 422, response.text
    assert detail in response.json()["detail"]
    await assert_nothing_stored(client, vendor)


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("/uploads/../config.py", "Invalid upload path: /uploads/../config.py"),
        ("/uploads/../../etc/passwd", "Invalid upload path"),
        ("/uploads/", "Invalid upload path"),
        ("/uploads/a\x00.png", "Invalid upload path"),
        ("/uploads/missing.png", "Uploaded file not found: /uploads/missing.png"),
        ("http://169.254.169.254/latest/meta-data", "Unsupported media URL"),
        ("file:///etc/passwd", "Unsupported media URL"),
        ("data:image/png;base64,@@@", "Invalid base64 in data URL"),
    ],
    ids=["traversal", "deep-traversal", "no-name", "nul", "missing", "plain-http", "file-url", "bad-base64"],
)
async def test_unusable_media_reference_is_400_and_stores_nothing(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor, url: str, detail: str
) -> None:
    response = await chat(client, "openai", images=[url])
    assert response.status_code == 400, response.text
    assert detail in response.json()["detail"]
    await assert_nothing_stored(client, vendor)


async def test_refused_media_in_an_existing_session_adds_no_message(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    first = await chat(client, "openai", "hello")
    session_id = first.json()["session_id"]
    response = await chat(
        client, "openai", session_id=session_id, videos=["https://media.example.invalid/a.mp4"]
    )
    assert response.status_code == 422
    detail = (await client.get(f"/api/v1/sessions/{session_id}")).json()
    assert [m["content"] for m in detail["messages"]] == ["hello", "Hello world"]
    assert len(vendor.requests) == 1


async def test_media_are_stored_on_the_message_and_resent_with_history(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    image = samples.png()
    url = await upload(client, image)
    first = await chat(client, "openai", "look", images=[url])
    session_id = first.json()["session_id"]
    body = {
        "session_id": session_id,
        "provider": "openai",
        "model": MODELS["openai"],
        "messages": [{"role": "user", "content": "and now?"}],
    }
    async with aconnect_sse(client, "POST", "/api/v1/chat", json=body) as source:
        events = [json.loads(e.data) async for e in source.aiter_sse()]
    assert events[-1] == {"done": True}

    assert vendor.requests[-1].body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(image)}"}},
            ],
        },
        {"role": "assistant", "content": "Hello world"},
        {"role": "user", "content": "and now?"},
    ]
    stored = (await client.get(f"/api/v1/sessions/{session_id}")).json()["messages"]
    assert stored[0]["images"] == [url]  # the reference, never the inlined bytes
    assert not stored[2]["images"]


async def test_a_pdf_goes_to_openai_as_a_file_part_and_again_with_the_history(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    document = samples.pdf(pages=2)
    url = await upload(client, document)
    first = await chat(client, "openai", "summarise", documents=[url])
    assert first.status_code == 200, first.text
    part = {
        "type": "file",
        "file": {
            "filename": url.removeprefix("/uploads/"),
            "file_data": f"data:application/pdf;base64,{b64(document)}",
        },
    }
    assert last_user_content(vendor) == [{"type": "text", "text": "summarise"}, part]
    second = await chat(client, "openai", "and page 2?", session_id=first.json()["session_id"])
    assert second.status_code == 200, second.text
    assert vendor.requests[-1].body["messages"][0]["content"] == [{"type": "text", "text": "summarise"}, part]
    stored = (await client.get(f"/api/v1/sessions/{first.json()['session_id']}")).json()["messages"]
    assert [m["documents"] for m in stored] == [[url], None, None, None]


async def test_history_media_a_newly_chosen_provider_cannot_take_is_left_out(
    client: httpx.AsyncClient, vendor: FakeOpenAIVendor
) -> None:
    url = await upload(client, samples.mp4())
    first = await chat(client, "siliconflow", "watch this", videos=[url])
    assert first.status_code == 200, first.text
    # The chat goes on with OpenAI, which takes no video: the old video stays out of the context.
    second = await chat(
        client, "siliconflow", "summarize", session_id=first.json()["session_id"], message_provider="openai"
    )
    assert second.status_code == 200, second.text
    assert vendor.requests[-1].body["messages"][0] == {"role": "user", "content": "watch this"}
