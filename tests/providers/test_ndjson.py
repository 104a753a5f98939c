"""Reading an NDJSON body: however it is cut into reads, the same lines come out, and a line is bounded."""

from collections.abc import AsyncIterator

import orjson
import pytest

from providers.ndjson import ndjson_lines
from providers.sse import EventTooLarge
from tests.fakes.openai_vendor import wire

SAMPLE = wire("ollama-chat.ndjson")
# A CRLF line end, blank lines, U+2028 unescaped, and a last line without its `\n`.
BODY = '{"a": "é ✓ one\u2028two"}\r\n\n  \n{"b": "日本語 🌍"}\n{"c": 3}'.encode()


async def reads(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def parsed(body: AsyncIterator[bytes], limit: int | None = None) -> list[object]:
    return [orjson.loads(line) async for line in ndjson_lines(body, limit)]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
async def test_every_cut_of_the_body_gives_the_same_lines(size: int) -> None:
    assert await parsed(reads(BODY, size)) == [{"a": "é ✓ one\u2028two"}, {"b": "日本語 🌍"}, {"c": 3}]
    sample = await parsed(reads(SAMPLE, size))
    assert [line["done"] for line in sample] == [False, False, False, False, True]  # type: ignore[index]


async def test_a_line_that_does_not_end_within_the_bound_is_cut_off() -> None:
    lines = ndjson_lines(reads(b'{"ok": 1}\n' + b"x" * 100, 10), 50)
    assert orjson.loads(await anext(lines)) == {"ok": 1}
    with pytest.raises(EventTooLarge, match="line of over 50 bytes"):
        await anext(lines)


async def test_long_lines_within_the_bound_are_read_whole() -> None:
    body = b"".join(orjson.dumps({"n": n, "text": "y" * 40}) + b"\n" for n in range(5))
    assert [line["n"] for line in await parsed(reads(body, 3), 64)] == list(range(5))  # type: ignore[index]
