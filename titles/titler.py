"""The titler: after a new session's first reply completes, a model names the session.

It runs beside the reply, never before it: it waits for the reply's final row to be stored, so
the reply is neither delayed nor changed. The title is stored by a conditional UPDATE that finds
the session still holding the title it was created with; a rename that came first wins. It is off
unless TITLE_PROVIDER and TITLE_MODEL are set.
"""

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.engine import Connection

import database
from generation.running import Generation
from models import ApiError
from provider_registry import ProviderRegistry
from providers.base import LLMProvider, ProviderRequest, TextDelta, Turn

logger = logging.getLogger(__name__)

INSTRUCTION = (
    "Write a title of at most six words for the conversation below. Answer with the title alone: "
    "no quotes, no punctuation at the end, in the language of the conversation."
)
# What of the first exchange the title model reads: its start says what the chat is about.
EXCERPT_CHARS = 2000
TITLE_CHARS = 80  # the column takes 200; a title is a glance
_STRIP = " \t\r\n\"'`*#“”‘’«»「」"


@dataclass(frozen=True, slots=True)
class FirstTurn:
    """What the titler needs of a new session: its id, the title it was made with, the question."""

    session_id: int
    original_title: str
    question: str


def clean_title(text: str) -> str:
    """The model's answer as a title: its first non-empty line, unquoted, not too long."""
    line = next((part.strip(_STRIP) for part in text.splitlines() if part.strip(_STRIP)), "")
    line = line.rstrip(".。!！")
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def retitle(db: Connection, session_id: int, original: str, title: str) -> bool:
    """Set the title if the session still has its original one; False if it was renamed (or deleted)."""
    statement = (
        update(database.SESSIONS)
        .where(database.SESSIONS.c.id == session_id, database.SESSIONS.c.title == original)
        .values(title=title)
    )
    return bool(db.execute(statement).rowcount)


class Titler:
    """Titles new sessions with TITLE_MODEL of TITLE_PROVIDER, a task each, off the reply's path."""

    def __init__(
        self, registry: ProviderRegistry, db: database.Database, provider_id: str, model: str
    ) -> None:
        self.registry = registry
        self.db = db
        self.provider_id = provider_id
        self.model = model
        self._tasks: set[asyncio.Task[None]] = set()
        # An unknown id stops start-up here, with the known ids listed.
        registry.known(provider_id)

    def follow(self, generation: Generation, first: FirstTurn) -> None:
        """Title the session once `generation`, its first reply, is stored complete."""
        task = asyncio.create_task(self._title(generation, first), name=f"title-{first.session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _title(self, generation: Generation, first: FirstTurn) -> None:
        await generation.done.wait()
        if generation.reply.status != "complete":
            return
        answer = "".join(generation.reply.text)
        try:
            title = clean_title(await self._ask(first.question, answer))
        except ApiError as exc:  # the vendor failed, or its key is no longer set
            logger.warning("No title for session %s: %s", first.session_id, exc)
            return
        if title and not await self.db.run_core(retitle, first.session_id, first.original_title, title):
            logger.info("Session %s was renamed before its title came: the new name stays", first.session_id)

    async def _ask(self, question: str, answer: str) -> str:
        provider: LLMProvider = await self.registry.ready(self.provider_id)
        conversation = f"User: {question[:EXCERPT_CHARS]}\n\nAssistant: {answer[:EXCERPT_CHARS]}"
        request = ProviderRequest(
            model=self.model, messages=(Turn(role="user", content=conversation),), system_prompt=INSTRUCTION
        )
        pieces = [event.text async for event in provider.stream(request) if isinstance(event, TextDelta)]
        return "".join(pieces)

    async def close(self) -> None:
        """Stop the titles still being written: a session keeps the title it has."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
