"""The system prompt of new sessions that give none: SYSTEM_PROMPT_FILE, read again when it changes.

The file is optional: without it (or with only blank lines in it) such sessions have no system
prompt. It is looked at whenever a new session needs it, and read only when its size or times
have changed since, so an edit applies to the next new session without a restart.
"""

import logging
from pathlib import Path

import anyio

logger = logging.getLogger(__name__)

# A prompt longer than this is most likely the wrong file: only its start is used.
MAX_PROMPT_BYTES = 1024 * 1024


class PromptFile:
    def __init__(self, path: Path) -> None:
        self.path = anyio.Path(path)
        self._seen: tuple[int, int, int] | None = None  # the file's size and times when last read
        self._prompt: str | None = None

    async def read(self) -> str | None:
        """The file's text, stripped; None when it is missing, empty or unreadable."""
        try:
            status = await self.path.stat()
        except OSError:  # no such file, or none we may look at: no prompt
            self._seen, self._prompt = None, None
            return None
        seen = (status.st_size, status.st_mtime_ns, status.st_ctime_ns)
        if seen != self._seen:
            self._prompt = await self._load()
            self._seen = seen
        return self._prompt

    async def _load(self) -> str | None:
        try:
            async with await anyio.open_file(self.path, "rb") as file:
                data = await file.read(MAX_PROMPT_BYTES)
        except OSError as exc:
            logger.warning("SYSTEM_PROMPT_FILE %s cannot be read; new sessions get none: %s", self.path, exc)
            return None
        return data.decode(errors="replace").strip() or None
