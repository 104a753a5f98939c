"""Split inline `<think>...</think>` reasoning out of streamed content, tags split across chunks included."""

from providers.base import ReasoningDelta, TextDelta

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


class ThinkTagSplitter:
    """Feed content chunks in order; get text and reasoning deltas out.

    A tag may arrive in pieces (`"<thi"`, `"nk>"`), so a possible tag prefix at the end of a chunk
    is held back until the next chunk decides it.
    """

    __slots__ = ("_buffer", "_inside")

    def __init__(self) -> None:
        self._buffer = ""
        self._inside = False

    def feed(self, chunk: str) -> list[TextDelta | ReasoningDelta]:
        if not self._buffer and "<" not in chunk:
            # Fast path: nothing to look at, which is almost every chunk.
            return [self._emit(chunk)] if chunk else []
        self._buffer += chunk
        out: list[TextDelta | ReasoningDelta] = []
        while self._buffer:
            tag = CLOSE_TAG if self._inside else OPEN_TAG
            index = self._buffer.find(tag)
            if index >= 0:
                if index:
                    out.append(self._emit(self._buffer[:index]))
                self._buffer = self._buffer[index + len(tag) :]
                self._inside = not self._inside
                continue
            keep = _partial_suffix(self._buffer, tag)
            ready = self._buffer[: len(self._buffer) - keep]
            if ready:
                out.append(self._emit(ready))
            self._buffer = self._buffer[len(ready) :]
            break
        return out

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        """Release a held-back partial tag at the end of the stream."""
        rest, self._buffer = self._buffer, ""
        return [self._emit(rest)] if rest else []

    def _emit(self, text: str) -> TextDelta | ReasoningDelta:
        return ReasoningDelta(text) if self._inside else TextDelta(text)


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper prefix of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0
