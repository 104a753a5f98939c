"""Reading a vendor's event stream: however the body is cut into reads, the same events come out."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import httpx2
import pytest
from httpx_sse import EventSource

from providers.sse import EventTooLarge, LineBoundStream, sse_data

WIRE = Path(__file__).parent.parent / "fakes" / "wire"
SAMPLES = {path.name: path.read_bytes() for path in sorted(WIRE.glob("*.sse"))}

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


def library_events(body: bytes) -> list[str]:
    """The data of the events httpx-sse reads from the whole body."""
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    return [event.data for event in EventSource(response).iter_sse()]


def test_the_wire_samples_are_all_here() -> None:
    assert {"openai-basic.sse", "gemini-basic.sse", "openrouter-reasoning.sse"} <= SAMPLES.keys()
    assert len(SAMPLES) >= 11


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 1 << 20])
async def test_a_wire_sample_reads_as_the_library_reads_it_however_it_is_split(
    sample: str, size: int
) -> None:
    body = SAMPLES[sample]
    expected = library_events(body)
    assert expected and all(expected)
    assert await collect(reads(body, size)) == expected


@pytest.mark.parametrize("sample", SAMPLES)
async def test_a_wire_sample_cut_in_two_at_any_byte_reads_the_same(sample: str) -> None:
    # Covers a cut inside every CRLF (the Gemini samples) and every multi-byte character (Ark, SiliconFlow).
    body = SAMPLES[sample]
    expected = library_events(body)

    async def two_reads(cut: int) -> AsyncIterator[bytes]:
        yield body[:cut]
        yield body[cut:]

    for cut in range(1, len(body)):
        assert await collect(two_reads(cut)) == expected, f"cut at byte {cut}"


@dataclass(frozen=True)
class Case:
    body: str
    events: list[str]


FORMS = {
    "LF": Case("data: a\n\ndata: b\n\n", ["a", "b"]),
    "CRLF": Case("data: a\r\n\r\ndata: b\r\n\r\n", ["a", "b"]),
    "CR only": Case("data: a\r\rdata: b\r\r", ["a", "b"]),
    "mixed line ends": Case("data: a\r\n\rdata: b\n\r\n", ["a", "b"]),
    "no space after the colon": Case("data:a\n\n", ["a"]),
    "only the first space is dropped": Case("data:  a \n\n", [" a "]),
    "comment lines": Case(": hello\n:\ndata: a\n: between\n\n: after\n\n", ["a"]),
    "multi-line data": Case("data: a\ndata:b\ndata: c\n\n", ["a\nb\nc"]),
    "empty data lines": Case("data\n\ndata:\n\ndata\ndata\n\n", ["", "", "\n"]),
    "a leading BOM": Case("\ufeffdata: a\n\n", ["a"]),
    "a BOM later is data": Case("data: \ufeffa\n\n", ["\ufeffa"]),
    "an event without data": Case("event: ping\n\nid: 1\n\nretry: 10\n\n: c\n\ndata: a\n\n", ["a"]),
    "event, id and retry beside data": Case("event: x\nid: 7\nretry: 10\ndata: a\n\n\n\n", ["a"]),
    "unknown fields and a field without colon": Case("foo: 1\nbar\ndata: a\nData: b\n\n", ["a"]),
    "blank lines before the first event": Case("\n\n\r\n\rdata: a\n\n", ["a"]),
    "other Unicode line breaks are data": Case(
        "data: a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\n\n", ["a\u2028b\u2029c\x85d\x0be\x0cf\x1cg"]
    ),
    "an event ended by the body's last CR": Case("data: a\r\r", ["a"]),
    "an event the body ends inside": Case("data: a\n\ndata: b\n", ["a"]),
    "a line the body ends inside": Case("data: a\n\ndata: b", ["a"]),
}


@pytest.mark.parametrize("case", FORMS.values(), ids=FORMS.keys())
@pytest.mark.parametrize("size", [1, 2, 3, 1 << 20])
async def test_each_form_of_the_event_stream_reads_as_the_specification_says(case: Case, size: int) -> None:
    assert await collect(reads(case.body.encode(), size)) == case.events


async def test_a_crlf_split_between_reads_is_one_line_end() -> None:
    async def split() -> AsyncIterator[bytes]:
        yield b"data: a\r"
        yield b"\ndata: b\r"
        yield b"\n\r"
        yield b""
        yield b"\n"

    assert await collect(split()) == ["a\nb"]


async def test_a_character_split_between_reads_is_read_whole() -> None:
    body = "data: é✓😀\n\n".encode()

    async def split() -> AsyncIterator[bytes]:
        for byte in body:
            yield bytes([byte])

    assert await collect(split()) == ["é✓😀"]


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
