"""The events of a vendor's `text/event-stream` body, decoded as the body arrives.

Parsing is httpx-sse's: lines end at CR, LF or CRLF only (JSON may carry U+2028 unescaped, so
no Unicode line splitting), a CRLF split across two reads is one line end, and fields are
interpreted as the SSE specification says. Its line decoder splits with `str.split`; the openai
SDK's runs every byte through a regular expression and took twice as long to parse a chunk.
"""

import codecs
from collections.abc import AsyncIterator

import httpx2

# The decoders themselves, not httpx-sse's EventSource: that one reads an httpx (not httpx2)
# response and refuses a 200 whose Content-Type is not text/event-stream, which the openai SDK
# accepts from an OpenAI-compatible server, and so do we.
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

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
    lines = SSELineDecoder()
    fields = SSEDecoder()
    # Characters read since an event last ended; what follows that blank line in the same read is
    # not counted, so the bound holds within one read's size.
    pending = 0
    async for chunk in body:
        piece = text.decode(chunk)
        pending += len(piece)
        for line in lines.decode(piece):
            if not line:
                pending = 0
            event = fields.decode(line)
            if event is not None:
                yield event.data
        if pending > limit:
            raise EventTooLarge(limit)
    # A CR the body ends with still ends a line; that line may be the blank one that completes
    # the last event.
    for line in lines.flush():
        event = fields.decode(line)
        if event is not None:
            yield event.data


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
