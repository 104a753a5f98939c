"""Reading a vendor's event stream: however the body is cut into reads, the same events come out."""

from collections.abc import AsyncIterator

import httpx2
import pytest

from providers.sse import EventTooLarge, LineBoundStream, sse_data

BODY = (
    "\ufeff: keep-alive comment\r\n"
    "\r\n"
    'data: {"text": "é ✓ one\u2028two"}\r\n'
    "\r\n"
    "event: message\n"
    "id: 7\n"
    "data: first line\n"
    "data:second line\n"
    "\n"
    "retry: 3000\r"
    "data: [DONE]\r"
    "\r"
).encode()

EVENTS = ['{"text": "é ✓ one\u2028two"}', "first line\nsecond line", "[DONE]"]


async def reads(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def collect(body: AsyncIterator[bytes]) -> list[str]:
    return [data async for data in sse_data(body)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, len(BODY)])
async def test_events_are_the_same_however_the_body_is_split(size: int) -> None:
    # Size 1 splits every CRLF and every multi-byte character between two reads.
    assert await collect(reads(BODY, size)) == EVENTS


async def test_an_event_the_body_ends_inside_is_not_delivered() -> None:
    assert await collect(reads(b'data: {"a": 1}\n\ndata: {"b"', 4)) == ['{"a": 1}']
    assert await collect(reads(b'data: {"a": 1}\n\ndata: {"b": 2}\n', 4)) == ['{"a": 1}']


async def test_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    assert await collect(reads(b"data: a\xffb\n\n", 1)) == ["a\ufffdb"]


async def test_an_event_that_never_ends_is_cut_off_at_the_limit() -> None:
    async def endless() -> AsyncIterator[bytes]:
        yield b"data: fine\n\n"
        yield b"data: "
        for _ in range(100):  # 50,000 characters of one event, never ended
            yield b"x" * 500

    read: list[str] = []
    with pytest.raises(EventTooLarge, match="over 2,000 characters"):
        async for data in sse_data(endless(), max_event_chars=2000):
            read.append(data)
    assert read == ["fine"]


async def test_many_events_may_add_up_to_more_than_the_limit() -> None:
    body = b"".join(b"data: " + b"y" * 90 + b"\n\n" for _ in range(100))
    events = [data async for data in sse_data(reads(body, 50), max_event_chars=200)]
    assert events == ["y" * 90] * 100


class Body(httpx2.AsyncByteStream):
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


async def test_a_line_bound_stream_passes_lines_under_the_limit_whatever_ends_them() -> None:
    chunks = (b"x" * 600 + b"\r", b"y" * 600 + b"\n", b"z" * 300, b"z" * 300 + b"\r\n")
    assert [chunk async for chunk in LineBoundStream(Body(*chunks), 1000)] == list(chunks)


async def test_a_line_bound_stream_fails_once_a_line_passes_the_limit_across_reads() -> None:
    read: list[bytes] = []
    with pytest.raises(EventTooLarge, match="over 1,000 bytes"):
        async for chunk in LineBoundStream(Body(b"ok\ndata: " + b"x" * 500, b"x" * 600, b"never read"), 1000):
            read.append(chunk)
    # The chunk that passed the limit is still handed on: the lines it ends are read first.
    assert read == [b"ok\ndata: " + b"x" * 500, b"x" * 600]
