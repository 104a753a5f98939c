r"""The lines of a vendor's NDJSON body (Ollama's streams): one JSON text a line, cut as the body arrives.

Lines are cut as bytes, at `\n`, and handed over undecoded: no byte of a multi-byte UTF-8
character is a `\n`, so a character split across two reads is whole again in its line, and the
JSON parser decodes the line at once. A CR before the `\n` is JSON whitespace and stays.
https://github.com/ndjson/ndjson-spec
"""

from collections.abc import AsyncIterator

from providers.sse import MAX_EVENT_CHARS, EventTooLarge


async def ndjson_lines(body: AsyncIterator[bytes], max_line_bytes: int | None = None) -> AsyncIterator[bytes]:
    r"""Yield each non-blank line of `body`, without its `\n`; a last line without one too.

    Raises EventTooLarge once more than `max_line_bytes` (MAX_EVENT_CHARS) have arrived without
    a line ending: a body that never ends its line is cut off before it costs the process its memory.
    """
    limit = max_line_bytes or MAX_EVENT_CHARS
    partial: list[bytes] = []  # the line being read, in pieces: a long one is joined once
    pending = 0  # its length so far
    async for chunk in body:
        if b"\n" not in chunk:
            partial.append(chunk)
            pending += len(chunk)
        else:
            if partial:
                partial.append(chunk)
                chunk = b"".join(partial)
            *lines, last = chunk.split(b"\n")
            partial, pending = ([last], len(last)) if last else ([], 0)
            for line in lines:
                if line.strip():
                    yield line
        if pending > limit:
            raise EventTooLarge(limit, "bytes", "stream sent a line")
    rest = b"".join(partial)
    if rest.strip():
        yield rest
