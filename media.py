"""Media: uploads checked from their bytes, and the references messages carry.

An upload's type is decided from its magic numbers (`filetype`) and, for images, a parse of the
header (by Pillow; a WebP's here); its name and declared content type are ignored. It is copied to
disk in chunks under a temporary name and renamed only once every check passed, so a refused upload
leaves nothing behind.

A message's media are `/uploads/...` paths (resolved strictly inside the upload folder), `data:` URLs,
or `https://` URLs. A remote URL is never fetched here (no server-side request forgery): it goes to the
vendor as a URL where the provider declares it fetches that kind itself, and is refused otherwise.

This module alone reads and writes the upload folder. A provider declares what it takes as a
`MediaSupport` value; a turn's media are checked against it before anything is stored, and read
into `MediaRef` values before the provider builds its request. Generated media come back from the
provider as bytes and are stored here (`save_generated`).
"""

import base64
import binascii
import logging
import re
import secrets
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import anyio
import anyio.to_thread
import filetype
from PIL import GifImagePlugin, Image, ImageFile, JpegImagePlugin, PngImagePlugin

from models import ApiError

if TYPE_CHECKING:
    from config import Settings

logger = logging.getLogger(__name__)

UPLOAD_PREFIX = "/uploads/"

Source = Literal["upload", "data", "remote"]
MediaKind = Literal["image", "video", "audio", "document"]


class MediaError(ApiError, ValueError):
    """A media reference that cannot be used; `status_code` says how the API answers it."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


# What a vendor takes unless it says otherwise. Documents are never assumed: a vendor that reads
# PDFs declares it.
ALL_KINDS: frozenset[MediaKind] = frozenset({"image", "video", "audio"})
# The MIME types of each kind; the other kinds are named by their MIME type's prefix.
DOCUMENT_MIMES = frozenset({"application/pdf"})


@dataclass(frozen=True, slots=True)
class MediaSupport:
    """What media a vendor (or one of its models) takes in messages.

    Attributes:
        kinds: Kinds taken; another kind is refused with 422 in a new message and left out of
            the history.
        remote_kinds: Kinds the vendor fetches itself from an https:// URL; any other kind must
            arrive as bytes.
        mimes: MIME types taken per kind, where the vendor is choosy (a kind not listed takes any type).
        roles: Whose messages' media are sent (Chat Completions takes none from the assistant).
        prompt_only: Only the newest user message's media are sent, as references for a generation.
    """

    kinds: frozenset[MediaKind] = ALL_KINDS
    remote_kinds: frozenset[MediaKind] = ALL_KINDS
    mimes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    roles: frozenset[str] = frozenset({"user", "assistant"})
    prompt_only: bool = False


# A model that takes no media at all (text-to-image models, for instance): nothing is read for it.
NO_MEDIA = MediaSupport(kinds=frozenset(), remote_kinds=frozenset(), roles=frozenset())


@dataclass(frozen=True, slots=True)
class MediaRef:
    """A resolved media reference. `data` is set for uploads and data URLs, None for remote URLs."""

    kind: MediaKind
    source: Source
    url: str
    mime: str | None
    data: bytes | None = None

    def data_url(self) -> str:
        """The media as a URL a vendor can use: uploads inline as `data:`, other URLs as they are."""
        if self.data is None or self.source != "upload":
            return self.url
        return f"data:{self.mime or 'application/octet-stream'};base64,{self.base64_data()}"

    def base64_data(self) -> str:
        """The bytes as plain base64 (no `data:` prefix), as `input_audio` takes them."""
        if self.source == "data":
            return self.url.partition(",")[2]
        return base64.b64encode(self.data or b"").decode()


def upload_path(url: str, upload_dir: Path) -> Path:
    """The file behind an `/uploads/<name>` URL, strictly inside `upload_dir` (no traversal)."""
    name = url.removeprefix(UPLOAD_PREFIX)
    # Dot names are uploads still being written (and `..`); they are nobody's media yet. No file
    # name holds a NUL, and the OS refuses to even look one up.
    if not name or name.startswith(".") or "\0" in name:
        raise MediaError(f"Invalid upload path: {url}")
    root = upload_dir.resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise MediaError(f"Invalid upload path: {url}")
    return path


async def _lookup(kind: MediaKind, url: str, upload_dir: Path, *, read: bool) -> MediaRef:
    """Turn a message's media URL into bytes we hold (`read`), or a remote URL left for the vendor."""
    if url.startswith(UPLOAD_PREFIX):
        path = anyio.Path(upload_path(url, upload_dir))
        if not await path.is_file():
            raise MediaError(f"Uploaded file not found: {url}")
        data = await path.read_bytes() if read else None
        return MediaRef(kind, "upload", url, guess_mime(path.name), data)
    if url.startswith("data:"):
        mime, payload = parse_data_url(url)
        return MediaRef(kind, "data", url, mime, payload)
    if url.startswith("https://"):
        return MediaRef(kind, "remote", url, None)
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
    ".pdf": "application/pdf",
}
MIME_EXTENSIONS = {mime: ext for ext, mime in _EXTENSIONS.items() if ext != ".jpeg"}


def guess_mime(name: str) -> str | None:
    return _EXTENSIONS.get(Path(name).suffix.lower())


def is_of_kind(mime: str, kind: MediaKind) -> bool:
    if kind == "document":
        return mime in DOCUMENT_MIMES
    return mime.startswith(f"{kind}/")


async def save_generated(data: bytes, mime: str, upload_dir: Path) -> str:
    """Store generated media (images, videos) under uploads/ and return its `/uploads/...` URL."""
    name = secrets.token_hex(16) + MIME_EXTENSIONS.get(mime, ".bin")
    await anyio.Path(upload_dir / name).write_bytes(data)
    return UPLOAD_PREFIX + name


# --- media in messages ------------------------------------------------------------------------


class HasMedia(Protocol):
    """A message with media lists: a request's new message or a history turn."""

    @property
    def images(self) -> Sequence[str] | None: ...

    @property
    def videos(self) -> Sequence[str] | None: ...

    @property
    def audios(self) -> Sequence[str] | None: ...

    @property
    def documents(self) -> Sequence[str] | None: ...


def media_items(message: HasMedia) -> Iterator[tuple[MediaKind, str]]:
    """A message's media references with their kind, documents first (vendors read them best first)."""
    yield from (("document", url) for url in message.documents or ())
    yield from (("image", url) for url in message.images or ())
    yield from (("video", url) for url in message.videos or ())
    yield from (("audio", url) for url in message.audios or ())


class MediaMessage(HasMedia, Protocol):
    """A message with media lists and a role: a turn of the context sent to a vendor."""

    @property
    def role(self) -> str: ...


async def check_media(
    messages: Iterable[HasMedia], support: MediaSupport, who: str, upload_dir: Path
) -> None:
    """Refuse the new messages' media that cannot be used (400) or that `who` cannot take (422).

    Called before anything is stored, so a refused request leaves no trace. Uploads are only
    looked up here; their bytes are read by `resolve_media` when the reply begins. `who` names
    the provider in the errors ("Provider 'gemini' (Gemini)").
    """
    for message in messages:
        for kind, url in media_items(message):
            await _locate(support, who, kind, url, upload_dir, read=False)


async def resolve_media(
    messages: Sequence[MediaMessage], support: MediaSupport, who: str, upload_dir: Path
) -> list[tuple[MediaRef, ...]]:
    """Each message's media as `support` takes them, uploads read into bytes; one tuple a message.

    New messages were checked by `check_media`; what fails here is history that predates a change
    of provider (a video earlier in a chat now continued with a vendor that takes no video), so it
    is left out of the context rather than making the whole session unusable.
    """
    resolved: list[tuple[MediaRef, ...]] = [()] * len(messages)
    for index in _senders(messages, support):
        refs = [
            await _usable(support, who, kind, url, upload_dir) for kind, url in media_items(messages[index])
        ]
        resolved[index] = tuple(ref for ref in refs if ref is not None)
    return resolved


def _senders(messages: Sequence[MediaMessage], support: MediaSupport) -> list[int]:
    """The positions of the messages whose media go to the vendor."""
    if support.prompt_only:
        return [i for i, message in enumerate(messages) if message.role == "user"][-1:]
    return [i for i, message in enumerate(messages) if message.role in support.roles]


async def _locate(
    support: MediaSupport, who: str, kind: MediaKind, url: str, upload_dir: Path, *, read: bool
) -> MediaRef:
    """One media reference, checked against what `support` declares."""
    ref = await _lookup(kind, url, upload_dir, read=read)
    if ref.mime and not is_of_kind(ref.mime, kind):
        raise MediaError(f"{url[:80]} is {ref.mime}, not {'an' if kind == 'image' else 'a'} {kind}", 422)
    if kind not in support.kinds:
        raise MediaError(f"{who} does not accept {kind} input", 422)
    if ref.source == "remote" and kind not in support.remote_kinds:
        raise MediaError(
            f"{who} cannot take {kind} as a URL: upload the file (POST /upload) or send a data: URL", 422
        )
    allowed = support.mimes.get(kind)
    if allowed and ref.mime and ref.mime not in allowed:
        raise MediaError(f"{who} takes {kind} only as {', '.join(sorted(allowed))}, not {ref.mime}", 422)
    return ref


async def _usable(
    support: MediaSupport, who: str, kind: MediaKind, url: str, upload_dir: Path
) -> MediaRef | None:
    try:
        return await _locate(support, who, kind, url, upload_dir, read=True)
    except MediaError as exc:
        logger.info("Left %s out of the request to %s: %s", kind, who, exc)
        return None


# --- uploads ----------------------------------------------------------------------------------

MB = 1024 * 1024
# filetype looks at most this far; the first read is this long so detection sees all it needs.
HEAD_BYTES = 8192
CHUNK_BYTES = MB

# What an upload may be, by the MIME type its magic numbers give: its kind and the type we store it
# as. Only formats the vendors take; anything else (scripts, pages, archives, ...) is refused.
_UPLOAD_TYPES: dict[str, tuple[MediaKind, str]] = {
    "image/png": ("image", "image/png"),
    "image/apng": ("image", "image/png"),
    "image/jpeg": ("image", "image/jpeg"),
    "image/gif": ("image", "image/gif"),
    "image/webp": ("image", "image/webp"),
    "video/mp4": ("video", "video/mp4"),
    "video/x-m4v": ("video", "video/mp4"),
    "video/quicktime": ("video", "video/quicktime"),
    "video/webm": ("video", "video/webm"),
    "audio/mpeg": ("audio", "audio/mpeg"),
    "audio/x-wav": ("audio", "audio/wav"),
    "audio/ogg": ("audio", "audio/ogg"),
    "audio/x-flac": ("audio", "audio/flac"),
    "audio/mp4": ("audio", "audio/mp4"),
    "application/pdf": ("document", "application/pdf"),
}
_ACCEPTED = (
    "images (PNG, JPEG, GIF, WebP), videos (MP4, MOV, WebM), audio (MP3, WAV, OGG, FLAC, M4A) "
    "and PDF documents"
)
# The types an upload is stored as, for the API schema.
UPLOAD_MIMES = sorted({mime for _, mime in _UPLOAD_TYPES.values()})
# Pillow's reader of each image type: the header must parse as the format the magic numbers claim.
# Used directly, not through Image.open: that applies Pillow's own process-wide bomb limit (an error
# past about 179 M pixels, a warning past 89 M) before MAX_IMAGE_PIXELS could be consulted, and would
# keep a larger MAX_IMAGE_PIXELS out of reach. These readers parse the header and allocate no pixels.
_PILLOW_READERS: dict[str, type[ImageFile.ImageFile]] = {
    "image/png": PngImagePlugin.PngImageFile,
    "image/jpeg": JpegImagePlugin.JpegImageFile,
    "image/gif": GifImagePlugin.GifImageFile,
}

# Markup that makes a file a polyglot a browser or client could run as a page or script. Each tag
# must be followed by a delimiter, so random compressed bytes practically never match (< 2^-38 a byte).
_MARKUP = re.compile(rb"<(?:script|html|iframe|object|embed|\?php|!doctype)[\s>/]", re.IGNORECASE)
_MARKUP_SPAN = 16
# Images are scanned whole (payloads hide in comments and metadata anywhere); video and audio only
# where sniffers look, since a full scan of hundreds of MB would cost time and risk a false match.
_SCAN_WINDOW: dict[MediaKind, int | None] = {"image": None, "video": MB, "audio": MB, "document": MB}
# A PDF ends with this marker, within the last KB (readers tolerate trailing bytes up to that);
# without it the file was cut short and a vendor would refuse the whole turn later.
_PDF_END = b"%%EOF"
_PDF_TAIL = 1024


class Readable(Protocol):
    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True, slots=True)
class StoredUpload:
    url: str
    kind: MediaKind
    mime: str
    size: int


async def save_upload(source: Readable, settings: "Settings") -> StoredUpload:
    """Copy an upload into the upload folder, deciding its type from its bytes.

    Raises:
        MediaError: 415 for a type we do not take or markup inside the file, 413 for a file over
            its kind's size limit or an image over MAX_IMAGE_PIXELS.
    """
    head = await _read_head(source)
    kind, mime = sniff(head)
    limit_mb = {
        "image": settings.max_image_mb,
        "video": settings.max_video_mb,
        "audio": settings.max_audio_mb,
        "document": settings.max_document_mb,
    }[kind]
    token = secrets.token_hex(16)
    partial = anyio.Path(settings.upload_dir) / f".{token}.part"
    try:
        size = await _copy(source, head, partial, kind, limit_mb)
        if kind == "image":
            await anyio.to_thread.run_sync(check_image, Path(partial), mime, settings.max_image_pixels)
        elif kind == "document":
            await anyio.to_thread.run_sync(check_pdf, Path(partial))
        final = await partial.rename(partial.with_name(token + MIME_EXTENSIONS[mime]))
    except BaseException:
        # Shielded: a cancelled request must still not leave its partial file behind.
        with anyio.CancelScope(shield=True):
            await partial.unlink(missing_ok=True)
        raise
    return StoredUpload(UPLOAD_PREFIX + final.name, kind, mime, size)


def sniff(head: bytes) -> tuple[MediaKind, str]:
    """The upload's kind and MIME type from its first bytes; 415 for anything we do not take."""
    found = filetype.guess(head)
    if found is None or found.mime not in _UPLOAD_TYPES:
        what = f" ({found.mime})" if found is not None else ""
        raise MediaError(f"Unsupported file type{what}: only {_ACCEPTED} are accepted", 415)
    return _UPLOAD_TYPES[found.mime]


async def _read_head(source: Readable) -> bytes:
    head = b""
    while len(head) < HEAD_BYTES:
        piece = await source.read(HEAD_BYTES - len(head))
        if not piece:
            break
        head += piece
    return head


async def _copy(source: Readable, head: bytes, target: anyio.Path, kind: MediaKind, limit_mb: float) -> int:
    """Write the upload chunk by chunk, refusing it as soon as it passes its size limit."""
    limit = int(limit_mb * MB)
    scanner = _MarkupScanner(_SCAN_WINDOW[kind])
    size = 0
    async with await anyio.open_file(target, "xb") as out:
        chunk = head
        while chunk:
            size += len(chunk)
            if size > limit:
                raise MediaError(
                    f"{kind.title()} too large: the limit is {limit_mb:g} MB (MAX_{kind.upper()}_MB)", 413
                )
            scanner.feed(chunk)
            await out.write(chunk)
            chunk = await source.read(CHUNK_BYTES)
    return size


class _MarkupScanner:
    """Looks for markup in a stream of chunks, across chunk boundaries, within `window` bytes."""

    def __init__(self, window: int | None) -> None:
        self.window = window
        self.seen = 0
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        if self.window is not None:
            chunk = chunk[: max(0, self.window - self.seen)]
        if not chunk:
            return
        self.seen += len(chunk)
        data = self.tail + chunk
        found = _MARKUP.search(data)
        if found is not None:
            tag = found.group()[:-1].decode("ascii", "replace")
            raise MediaError(f"File refused: it contains HTML or script markup ({tag!r})", 415)
        self.tail = data[-_MARKUP_SPAN:]


def check_image(path: Path, mime: str, max_pixels: int) -> None:
    """Confirm an image by parsing its header (no pixel is decoded); refuse more than `max_pixels`.

    Blocking file I/O: run it in a worker thread.
    """
    try:
        width, height = _verified_size(path, mime)
    # Pillow's own bomb guard is left only where a GIF's first frame reaches past its screen size.
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(f"Image refused as a decompression bomb: {exc}", 413) from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        # Pillow may name the file it read: the server's temporary path is none of the client's business.
        reason = str(exc).replace(f" {str(path)!r}", "").replace(str(path), "the file")
        raise MediaError(f"Not a valid {mime} image: {reason}", 415) from exc
    if width * height > max_pixels:
        raise MediaError(
            f"Image too large: {width}x{height} is {width * height} pixels, "
            f"over MAX_IMAGE_PIXELS={max_pixels}",
            413,
        )


def check_pdf(path: Path) -> None:
    """Refuse a PDF cut short: its end-of-file marker must be in its last KB. Blocking file I/O."""
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - _PDF_TAIL))
        if _PDF_END not in file.read():
            raise MediaError(
                f"Not a valid PDF: no {_PDF_END.decode()} marker at its end (was the file cut short?)", 415
            )


def _verified_size(path: Path, mime: str) -> tuple[int, int]:
    """The image's width and height as its header declares them, once Pillow verified the file."""
    with path.open("rb") as file:
        if mime == "image/webp":
            return _webp_size(file.read(30))
        with _PILLOW_READERS[mime](file) as image:
            image.verify()
            return image.size


def _webp_size(head: bytes) -> tuple[int, int]:
    """A WebP's canvas size from its first 30 bytes, or SyntaxError if they are no WebP header.

    Read here, not by Pillow: its WebP reader hands the whole file to libwebp's decoder, which
    allocates the full canvas, and refuses past Pillow's own bomb limit whatever MAX_IMAGE_PIXELS
    says. Layout: https://developers.google.com/speed/webp/docs/riff_container
    """
    chunk = head[12:16]
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise SyntaxError("not a WebP file")
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    raise SyntaxError(f"broken WebP header (chunk {chunk!r})")


async def remove_partial_uploads(upload_dir: Path) -> int:
    """Delete `.part` files an upload left when its process was killed mid-copy."""
    removed = 0
    async for path in anyio.Path(upload_dir).glob(".*.part"):
        await path.unlink(missing_ok=True)
        removed += 1
    return removed
