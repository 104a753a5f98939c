from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest

from app_factory import create_app
from config import Settings
from tests import media_samples as samples
from tests.conftest import ServeApp
from tests.fakes.server import ServerThread

UPLOAD = "/api/v1/upload"
KB = 1024


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], upload_dir: Path) -> Settings:
    # Small limits, so every refusal is reachable with a few KB (video stays above one 1 MB chunk).
    return make_settings(
        upload_dir=upload_dir,
        max_image_mb=0.01,
        max_video_mb=3,
        max_audio_mb=0.02,
        max_document_mb=0.01,
        max_image_pixels=10_000,
    )


async def stored_names(folder: Path) -> list[str]:
    return [path.name async for path in anyio.Path(folder).iterdir()]


async def post_file(
    client: httpx.AsyncClient,
    data: bytes,
    name: str = "file.bin",
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    return await client.post(UPLOAD, files={"file": (name, data, content_type)})


@pytest.mark.parametrize(
    ("data", "kind", "mime", "suffix"),
    [
        (samples.png(), "image", "image/png", ".png"),
        (samples.jpeg(), "image", "image/jpeg", ".jpg"),
        (samples.gif(), "image", "image/gif", ".gif"),
        (samples.webp(), "image", "image/webp", ".webp"),
        (samples.webp(lossless=True), "image", "image/webp", ".webp"),
        (samples.wav(), "audio", "audio/wav", ".wav"),
        (samples.mp4(), "video", "video/mp4", ".mp4"),
        (samples.pdf(), "document", "application/pdf", ".pdf"),
    ],
    ids=["png", "jpeg", "gif", "webp", "webp-lossless", "wav", "mp4", "pdf"],
)
async def test_upload_is_stored_under_a_random_name_and_served(
    client: httpx.AsyncClient, upload_dir: Path, data: bytes, kind: str, mime: str, suffix: str
) -> None:
    response = await post_file(client, data)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == kind
    assert body["mime"] == mime
    assert body["size"] == len(data)
    assert body["url"].startswith("/uploads/") and body["url"].endswith(suffix)
    assert await stored_names(upload_dir) == [body["url"].removeprefix("/uploads/")]
    served = await client.get(body["url"])
    assert served.status_code == 200
    assert served.content == data


async def test_type_comes_from_the_bytes_not_the_name_or_content_type(client: httpx.AsyncClient) -> None:
    image = await post_file(client, samples.png(), "notes.html", "text/html")
    assert image.status_code == 200
    assert image.json()["mime"] == "image/png"
    assert image.json()["url"].endswith(".png")

    page = await post_file(client, b"<!DOCTYPE html><html><body>hi</body></html>", "cat.png", "image/png")
    assert page.status_code == 415
    assert "Unsupported file type" in page.json()["detail"]


async def test_large_upload_is_copied_in_chunks_intact(client: httpx.AsyncClient, upload_dir: Path) -> None:
    data = samples.mp4(payload=int(2.5 * KB * KB))  # several 1 MB chunks, under MAX_VIDEO_MB=3
    response = await post_file(client, data, "clip.mp4", "video/mp4")
    assert response.status_code == 200, response.text
    assert response.json()["size"] == len(data)
    stored = upload_dir / response.json()["url"].removeprefix("/uploads/")
    assert await anyio.Path(stored).read_bytes() == data


GIF_HEADER = b"GIF89a\x01\x00\x01\x00\x00\x00\x00"
JPEG_HEADER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"


@pytest.mark.parametrize(
    ("data", "status", "detail"),
    [
        (b"<!DOCTYPE html>\n<html><script>alert(1)</script></html>", 415, "Unsupported file type"),
        (b"#!/bin/sh\nrm -rf ~\n", 415, "Unsupported file type"),
        (b"PK\x03\x04" + b"\x00" * 60, 415, "Unsupported file type (application/zip)"),
        (b"", 415, "Unsupported file type"),
        (GIF_HEADER + b"<script>alert(document.cookie)</script>", 415, "markup ('<script')"),
        (JPEG_HEADER + b"<html><body onload=alert(1)>", 415, "markup ('<html')"),
        (samples.png(text="<script src=//evil.example/x.js></script>"), 415, "markup ('<script')"),
        # The tag straddles the first read (8192 bytes) and the next chunk.
        (GIF_HEADER + b"\x00" * (8190 - len(GIF_HEADER)) + b"<script>", 415, "markup ('<script')"),
        (samples.mp4()[:24] + b"<!DOCTYPE html><p>", 415, "markup ('<!DOCTYPE')"),
        (b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4, 415, "Not a valid image/png image"),
        (b"\x89PNG\r\n\x1a\nxxxx", 415, "Not a valid image/png image: broken PNG file"),
        (samples.png(text="x" * 20 * KB), 413, "Image too large: the limit is 0.01 MB (MAX_IMAGE_MB)"),
        (samples.png(size=(120, 120)), 413, "120x120 is 14400 pixels, over MAX_IMAGE_PIXELS=10000"),
        (samples.png_declaring(100_000, 100_000), 413, "10000000000 pixels, over MAX_IMAGE_PIXELS=10000"),
        # Past Pillow's own bomb error (about 179 M pixels) and past its warning (89 M): our limit speaks.
        (samples.png_declaring(20_000, 20_000), 413, "is 400000000 pixels, over MAX_IMAGE_PIXELS=10000"),
        (samples.png_declaring(10_000, 10_000), 413, "is 100000000 pixels, over MAX_IMAGE_PIXELS=10000"),
        (samples.webp_declaring(16_000, 16_000), 413, "is 256000000 pixels, over MAX_IMAGE_PIXELS=10000"),
        (samples.webp_declaring(200, 100), 413, "200x100 is 20000 pixels, over MAX_IMAGE_PIXELS=10000"),
        (samples.webp()[:20] + b"\x00" * 20, 415, "Not a valid image/webp image: broken WebP header"),
        (samples.wav(seconds=1.5), 413, "Audio too large: the limit is 0.02 MB (MAX_AUDIO_MB)"),
        (samples.mp4(payload=3 * KB * KB + 1), 413, "Video too large: the limit is 3 MB (MAX_VIDEO_MB)"),
        (samples.pdf()[:-40], 415, "Not a valid PDF: no %%EOF marker at its end"),
        (samples.pdf(pages=40), 413, "Document too large: the limit is 0.01 MB (MAX_DOCUMENT_MB)"),
        (b"%PDF-1.7\n<html><script>alert(1)</script>\n%%EOF\n", 415, "markup ('<html')"),
    ],
    ids=[
        "html-page",
        "shell-script",
        "zip",
        "empty",
        "gif-script-polyglot",
        "jpeg-html-polyglot",
        "png-with-script-in-metadata",
        "markup-across-chunks",
        "mp4-html-polyglot",
        "corrupt-png",
        "truncated-png",
        "image-over-size",
        "image-over-pixels",
        "decompression-bomb",
        "png-past-pillows-bomb-error",
        "png-past-pillows-bomb-warning",
        "webp-past-pillows-bomb-error",
        "webp-over-pixels",
        "broken-webp-header",
        "audio-over-size",
        "video-over-size",
        "pdf-cut-short",
        "pdf-over-size",
        "pdf-html-polyglot",
    ],
)
async def test_refused_upload_leaves_no_file(
    client: httpx.AsyncClient, upload_dir: Path, data: bytes, status: int, detail: str
) -> None:
    response = await post_file(client, data, "innocent.png", "image/png")
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert str(upload_dir) not in response.json()["detail"]  # no server path given away
    assert await stored_names(upload_dir) == []


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (samples.png_declaring(20_000, 20_000), 200),
        (samples.png_declaring(10_000, 10_000), 200),
        (samples.webp_declaring(16_000, 16_000), 200),
        (samples.png_declaring(30_000, 20_000), 413),
    ],
    ids=[
        "past-pillows-bomb-error",
        "past-pillows-bomb-warning",
        "webp-past-pillows-bomb-error",
        "over-the-setting",
    ],
)
async def test_a_max_image_pixels_above_pillows_own_limit_is_the_limit(
    make_settings: Callable[..., Settings], serve: ServeApp, upload_dir: Path, data: bytes, status: int
) -> None:
    settings = make_settings(upload_dir=upload_dir, max_image_mb=0.01, max_image_pixels=500_000_000)
    async with serve(settings) as client:
        response = await post_file(client, data)
    assert response.status_code == status, response.text
    if status == 413:
        assert response.json()["detail"] == (
            "Image too large: 30000x20000 is 600000000 pixels, over MAX_IMAGE_PIXELS=500000000"
        )
        assert await stored_names(upload_dir) == []
    else:
        assert await stored_names(upload_dir) == [response.json()["url"].removeprefix("/uploads/")]


async def test_upload_without_a_file_field_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(UPLOAD, files={"other": ("a.png", samples.png(), "image/png")})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "file"]


async def test_uploads_are_served_with_nosniff(client: httpx.AsyncClient) -> None:
    url = (await post_file(client, samples.png())).json()["url"]
    served = await client.get(url)
    assert served.status_code == 200
    assert served.headers["x-content-type-options"] == "nosniff"


async def test_partial_uploads_left_by_a_killed_process_are_removed_at_start_up(
    settings: Settings, upload_dir: Path
) -> None:
    await anyio.Path(upload_dir).mkdir(parents=True, exist_ok=True)
    await anyio.Path(upload_dir / ".abc123.part").write_bytes(b"half a file")
    await anyio.Path(upload_dir / "kept.png").write_bytes(samples.png())
    with ServerThread(create_app(settings), lifespan="on"):
        assert sorted(await stored_names(upload_dir)) == ["kept.png"]
