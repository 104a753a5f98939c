"""The events of a vendor's `text/event-stream` body, decoded as the body arrives.

Decoding follows the WHATWG event-stream rules that matter here: lines end at CR, LF or CRLF
only (JSON may carry U+2028 unescaped, so no Unicode line splitting), a CRLF split across two
reads is one line end, a leading byte order mark is dropped, and an event is dispatched at a
blank line only if it has data. It is a few lines of our own rather than a library's private
decoders: httpx-sse's EventSource reads an httpx (not httpx2) response and refuses a 200 whose
Content-Type is not text/event-stream, which the openai SDK accepts from an OpenAI-compatible
server, and so do we. Lines are cut with `str.split`; the openai SDK's decoder runs every byte
through a regular expression and took twice as long to parse a chunk.
https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
"""

import asyncio
import codecs
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2

# An event is held in memory until its blank line arrives. The largest honest one is a generated
# image as a base64 data URL, a few MB; a body that never ends its event is cut off well before
# it costs the process its memory.
MAX_EVENT_CHARS = 32 * 1024 * 1024


class EventTooLarge(ValueError):
    def __init__(self, limit: int, unit: str = "characters", what: str = "stream sent an event") -> None:
        super().__init__(f"the vendor's {what} of over {limit:,} {unit}; it was cut off")


async def sse_data(body: AsyncIterator[bytes], max_event_chars: int | None = None) -> AsyncIterator[str]:
    """Yield the data of each complete event in `body`; an event the body ends inside is dropped.

    Raises EventTooLarge once more than `max_event_chars` (MAX_EVENT_CHARS) have arrived without
    an event ending.
    """
    limit = max_event_chars or MAX_EVENT_CHARS
    # UTF-8 with a leading byte order mark dropped, as the specification says; a character split
    # across two reads is decoded whole.
    text = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    lines = _LineSplitter()
    data: list[str] = []  # the data lines of the event being read
    # Characters read since an event last ended; what follows that blank line in the same read is
    # not counted, so the bound holds within one read's size.
    pending = 0
    async for chunk in body:
        piece = text.decode(chunk)
        pending += len(piece)
        for line in lines.split(piece):
            if not line:
                pending = 0
                if data:
                    yield data[0] if len(data) == 1 else "\n".join(data)
                    data = []
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line[0] != ":":  # a line starting with a colon is a comment
                _field(line, data)
        if pending > limit:
            raise EventTooLarge(limit)
    # The body ended: a line without its line end and an event without its blank line are dropped.


class _LineSplitter:
    """Cuts text read piece by piece into lines ended by CRLF, LF or CR, and by nothing else."""

    def __init__(self) -> None:
        self._partial: list[str] = []  # the line being read, in pieces: a long one is joined once
        self._after_cr = False  # the last piece ended with CR, so an LF starting the next ends no line

    def split(self, piece: str) -> list[str]:
        """The lines `piece` ends, without their line ends."""
        if self._after_cr and piece[:1] == "\n":
            piece = piece[1:]
        if not piece:
            return []
        self._after_cr = piece[-1] == "\r"
        if "\r" in piece:
            piece = piece.replace("\r\n", "\n").replace("\r", "\n")
        elif "\n" not in piece:
            self._partial.append(piece)
            return []
        if self._partial:
            self._partial.append(piece)
            piece = "".join(self._partial)
        lines = piece.split("\n")
        # What follows the last line end is the start of the next line.
        last = lines.pop()
        self._partial = [last] if last else []
        return lines


def _field(line: str, data: list[str]) -> None:
    """Read one field line other than the common `data: ...`; only data is kept.

    A line without a colon is a field with an empty value, and one space after the colon is not
    part of the value. `event`, `id` and `retry` are not kept: `sse_data` yields data only (every
    event is read as a message) and a vendor's stream is never reconnected, so the last event id
    and the reconnection time change nothing. Any other field is ignored, as the specification says.
    """
    name, _, value = line.partition(":")
    if name == "data":
        data.append(value[1:] if value[:1] == " " else value)


async def whole_body(body: AsyncIterator[bytes], max_bytes: int | None = None) -> bytes:
    """All of `body`, for a reply sent whole rather than as events; bounded as one event is.

    Raises EventTooLarge once more than `max_bytes` (MAX_EVENT_CHARS) have arrived.
    """
    limit = max_bytes or MAX_EVENT_CHARS
    pieces: list[bytes] = []
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            raise EventTooLarge(limit, "bytes", "reply was a body")
        pieces.append(chunk)
    return b"".join(pieces)


class LineBoundStream(httpx2.AsyncByteStream):
    """A response body that fails once more than `limit` bytes arrive without a line ending.

    The bound of a stream that an SDK reads line by line, out of `sse_data`'s reach: google-genai
    reads its events with httpx2's `aiter_lines`, which holds a line in memory until it ends. An
    encoded (compressed) body is counted as it arrives, so the bound does not hold for it.
    """

    def __init__(self, stream: httpx2.AsyncByteStream, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pending = 0
        async for chunk in self._stream:
            end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
            pending = len(chunk) - end - 1 if end >= 0 else pending + len(chunk)
            # The lines this chunk completes are read first, as sse_data yields the events it ends.
            yield chunk
            if pending > self._limit:
                raise EventTooLarge(self._limit, "bytes")

    async def aclose(self) -> None:
        await self._stream.aclose()


async def bound_event_stream_lines(response: httpx2.Response) -> None:
    """An httpx2 response hook: a `text/event-stream` body is read through a LineBoundStream."""
    event_stream = response.headers.get("content-type", "").startswith("text/event-stream")
    if event_stream and isinstance(response.stream, httpx2.AsyncByteStream):
        response.stream = LineBoundStream(response.stream, MAX_EVENT_CHARS)


def body_bytes(http: httpx2.Response) -> AsyncIterator[bytes]:
    """The body's bytes; undecoded when nothing encodes it, one generator less per chunk read."""
    if "content-encoding" in http.headers:
        return http.aiter_bytes()
    return http.aiter_raw()


async def drain(events: AsyncIterator[Any], limit: float = 1.0) -> None:
    """Read what follows the last event (normally just the body's end) so the connection is pooled again.

    A vendor that keeps the body open after its last event (`[DONE]`, `message_stop`) gets `limit`
    seconds; then the connection is closed instead of reused, which costs the next request a new
    handshake and nothing else.
    """
    with contextlib.suppress(TimeoutError, httpx2.HTTPError, EventTooLarge):
        async with asyncio.timeout(limit):
            async for _ in events:
                pass
