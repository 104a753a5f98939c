"""The load generator's HTTP/1.1 client: raw asyncio streams, keep-alive, chunked bodies.

Hand-rolled so the bench process spends almost nothing per chunk (three processes share two cores)
and can time the exact read that brought the first content byte.
"""

import asyncio
import json
import re
import time
from dataclasses import dataclass

CONTENT = b'"content"'
CONTENT_TEXT = re.compile(rb'"content":"([^"]*)"')
READ_SIZE = 262_144


class ResponseError(ConnectionError):
    pass


@dataclass(slots=True)
class Result:
    status: int
    body: bytes
    ttft: float | None  # seconds from the request's write to the read that brought `"content"`
    total: float  # seconds from the request's write to the body's last byte

    def json(self) -> object:
        return json.loads(self.body)

    def text(self) -> str:
        """The reply text carried by the body's content fields, in order (vendor chunks or SSE events)."""
        return b"".join(CONTENT_TEXT.findall(self.body)).decode()


class Connection:
    """One keep-alive connection; requests on it go one after the other."""

    def __init__(self, host: str, port: int, first: re.Pattern[bytes] | None = None) -> None:
        self.host = host
        self.port = port
        # What marks the first content for the TTFT, when a plain `"content"` key is not enough
        # (a relay whose first chunk is an empty role delta).
        self.first = first
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.buffer = bytearray()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None
        self.buffer.clear()

    async def request(self, method: str, path: str, payload: object | None = None) -> Result:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=READ_SIZE)
        body = json.dumps(payload).encode() if payload is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-type: application/json\r\naccept: text/event-stream\r\n"
            f"authorization: Bearer bench\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        started = time.perf_counter()
        self.writer.write(head.encode() + body)
        try:
            result = await self._response(started)
        except BaseException:
            await self.close()
            raise
        return result

    async def _fill(self) -> float:
        assert self.reader is not None
        data = await self.reader.read(READ_SIZE)
        if not data:
            raise ResponseError("connection closed mid-response")
        self.buffer += data
        return time.perf_counter()

    async def _response(self, started: float) -> Result:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            await self._fill()
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        status = int(lines[0].split(" ")[1])
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        if headers.get("transfer-encoding") == "chunked":
            body, ttft, finished = await self._chunked(started)
        else:
            body, finished = await self._sized(int(headers.get("content-length", "0")))
            ttft = None
        if headers.get("connection") == "close":
            await self.close()
        return Result(status, body, ttft, finished - started)

    async def _sized(self, length: int) -> tuple[bytes, float]:
        finished = time.perf_counter()
        while len(self.buffer) < length:
            finished = await self._fill()
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return body, finished

    async def _chunked(self, started: float) -> tuple[bytes, float | None, float]:
        parts: list[bytes] = []
        ttft: float | None = None
        arrived = time.perf_counter()
        tail = b""
        while True:
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                arrived = await self._fill()
                continue
            size = int(bytes(self.buffer[:line_end]).split(b";")[0], 16)
            if len(self.buffer) < line_end + 2 + size + 2:
                arrived = await self._fill()
                continue
            if size == 0:
                del self.buffer[: line_end + 4]
                return b"".join(parts), ttft, arrived
            data = bytes(self.buffer[line_end + 2 : line_end + 2 + size])
            del self.buffer[: line_end + 2 + size + 2]
            parts.append(data)
            if ttft is None:
                seen = tail + data
                if self.first.search(seen) if self.first is not None else CONTENT in seen:
                    ttft = arrived - started
                tail = data[-32:]
