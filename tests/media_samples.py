"""Small media files built in the tests themselves: real formats, a few bytes each."""

import io
import random
import struct
import time
import wave
import zlib

from PIL import Image, PngImagePlugin


def png(size: tuple[int, int] = (4, 4), text: str | None = None) -> bytes:
    info = PngImagePlugin.PngInfo()
    if text is not None:
        info.add_text("comment", text)
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, "JPEG")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    return out.getvalue()


def webp(lossless: bool = False) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), "green").save(out, "WEBP", lossless=lossless)
    return out.getvalue()


def webp_declaring(width: int, height: int) -> bytes:
    """An extended-format WebP header (VP8X) declaring a `width` x `height` canvas, and no image."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` pixels, without the pixels (a bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def wav(seconds: float = 0.1, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def mp4(payload: int = 64) -> bytes:
    """An ISO-BMFF `ftyp` box (what identifies an MP4) and an `mdat` box of deterministic noise."""
    ftyp = struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 0x200) + b"isomiso2"
    data = random.Random(0).randbytes(payload)
    return ftyp + struct.pack(">I", 8 + len(data)) + b"mdat" + data


def pdf(pages: int = 1) -> bytes:
    """A real PDF (Pillow writes one page per image), ending in its %%EOF marker."""
    out = io.BytesIO()
    first, *rest = [Image.new("RGB", (8, 8), (i * 40 % 256, 0, 0)) for i in range(pages)]
    # A fixed date: the same call gives the same bytes, so a test can compare what reached a vendor.
    stamp = time.gmtime(1_767_225_600)
    first.save(out, "PDF", save_all=True, append_images=rest, creationDate=stamp, modDate=stamp)
    return out.getvalue()
