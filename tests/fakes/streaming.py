"""What every fake vendor does alike: write a scripted stream and count how its streams ended."""

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol


class ScriptedStream(Protocol):
    """The parts of a scripted reply that say how its stream is written."""

    events: list[bytes]
    delay: float
    stall: float
    split: int


class StreamingVendor:
    """Counts the streams the client abandoned (`disconnects`) and those written to the end (`completed`)."""

    def __init__(self) -> None:
        self.disconnects = 0
        self.completed = 0

    async def _write(self, reply: ScriptedStream, *, abort: bool = False) -> AsyncIterator[bytes]:
        """`reply.events` in `reply.split`-byte pieces, so frames split at awkward boundaries.

        The events are `reply.delay` seconds apart and `reply.stall` seconds pass after them.
        `abort` then breaks the connection (the client sees an incomplete chunked body) instead of
        ending the stream.
        """
        try:
            for index, event in enumerate(reply.events):
                if index and reply.delay:
                    await asyncio.sleep(reply.delay)
                for start in range(0, len(event), reply.split):
                    yield event[start : start + reply.split]
            if reply.stall:
                await asyncio.sleep(reply.stall)
        except BaseException:
            self.disconnects += 1
            raise
        if abort:
            raise ConnectionAbortedError("the fake vendor dropped the connection")
        self.completed += 1
