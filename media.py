"""Media references (uploads, `data:` URLs, remote URLs) and saving generated media.

A user-supplied remote URL is never fetched here (no server-side request forgery): it is passed
to the vendor as a URL, or refused where the vendor does not take URLs.
"""

import base64
import binascii
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio

UPLOAD_PREFIX = "/uploads/"

Source = Literal["upload", "data", "remote"]


class MediaError(ValueError):
    """A media reference that cannot be used; `status_code` says how the API answers it."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A resolved media reference. `data` is set for uploads and data URLs, None for remote URLs."""

    source: Source
    url: str
    mime: str | None
    data: bytes | None = None

    def data_url(self) -> str:
        """The bytes as a `data:` URL (for vendors that take inline media but not our paths)."""
        if self.data is None:
            return self.url
        return f"data:{self.mime or 'application/octet-stream'};base64,{base64.b64encode(self.data).decode()}"


def upload_path(url: str, upload_dir: Path) -> Path:
    """The file behind an `/uploads/<name>` URL, strictly inside `upload_dir` (no traversal)."""
    name = url.removeprefix(UPLOAD_PREFIX)
    root = upload_dir.resolve()
    path = (root / name).resolve()
    if not name or path.parent != root:
        raise MediaError(f"Invalid upload path: {url}")
    return path


async def resolve(url: str, upload_dir: Path) -> MediaRef:
    """Turn a message's media URL into bytes we hold, or a remote URL left for the vendor."""
    if url.startswith(UPLOAD_PREFIX):
        path = upload_path(url, upload_dir)
        if not await anyio.Path(path).is_file():
            raise MediaError(f"Uploaded file not found: {url}")
        return MediaRef("upload", url, guess_mime(path.name), await anyio.Path(path).read_bytes())
    if url.startswith("data:"):
        mime, data = parse_data_url(url)
        return MediaRef("data", url, mime, data)
    if url.startswith("https://"):
        return MediaRef("remote", url, None)
    raise MediaError(f"Unsupported media URL (use /uploads/..., https:// or data:): {url[:80]}")


def parse_data_url(url: str) -> tuple[str, bytes]:
    header, _, payload = url.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64") or not payload:
        raise MediaError("Invalid data URL: expected data:<mime>;base64,<data>")
    try:
        return header[5:].removesuffix(";base64") or "application/octet-stream", base64.b64decode(
            payload, validate=True
        )
    except binascii.Error as exc:
        raise MediaError(f"Invalid base64 in data URL: {exc}") from exc


_EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
}
MIME_EXTENSIONS = {mime: ext for ext, mime in _EXTENSIONS.items() if ext != ".jpeg"}


def guess_mime(name: str) -> str | None:
    return _EXTENSIONS.get(Path(name).suffix.lower())


async def save_generated(data: bytes, mime: str, upload_dir: Path) -> str:
    """Store generated media (images, videos) under uploads/ and return its `/uploads/...` URL."""
    name = secrets.token_hex(16) + MIME_EXTENSIONS.get(mime, ".bin")
    await anyio.Path(upload_dir / name).write_bytes(data)
    return UPLOAD_PREFIX + name
