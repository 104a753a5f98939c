"""The events of a vendor's `text/event-stream` body, decoded as the body arrives.

Parsing is httpx-sse's: lines end at CR, LF or CRLF only (JSON may carry U+2028 unescaped, so
no Unicode line splitting), a CRLF split across two reads is one line end, and fields are
interpreted as the SSE specification says. Its line decoder splits with `str.split`; the openai
SDK's runs every byte through a regular expression and took twice as long to parse a chunk.
"""

import codecs
from collections.abc import AsyncIterator

# The decoders themselves, not httpx-sse's EventSource: that one reads an httpx (not httpx2)
# response and refuses a 200 whose Content-Type is not text/event-stream, which the openai SDK
# accepts from an OpenAI-compatible server, and so do we.
from httpx_sse._decoders import SSEDecoder, SSELineDecoder


async def sse_data(body: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """Yield the data of each complete event in `body`; an event the body ends inside is dropped."""
    # UTF-8 with a leading byte order mark dropped, as the specification says; a character split
    # across two reads is decoded whole.
    text = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    lines = SSELineDecoder()
    fields = SSEDecoder()
    async for chunk in body:
        for line in lines.decode(text.decode(chunk)):
            event = fields.decode(line)
            if event is not None:
                yield event.data
    # A CR the body ends with still ends a line; that line may be the blank one that completes
    # the last event.
    for line in lines.flush():
        event = fields.decode(line)
        if event is not None:
            yield event.data
