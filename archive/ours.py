"""Our own archive format: every column of every session and message, and the messages' tree.

Each message carries its id in the exporting database and its `parent_id`, the message it answers
or follows (today the one before it in the session), so a history kept as a tree fits the same
format. An import gives new ids and keeps the order; `origin` says where a session came from, and
a session whose origin is already stored is not imported again.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

FORMAT: Literal["lite-llm-chat"] = "lite-llm-chat"
VERSION: Literal[1] = 1

# A time written without a zone is taken as UTC, as the database keeps every time.
Moment = Annotated[
    datetime, AfterValidator(lambda value: value if value.tzinfo else value.replace(tzinfo=UTC))
]


class ArchivedMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1)
    parent_id: int | None = Field(default=None, description="The message it follows; null for the first")
    role: Literal["user", "assistant", "system"]
    content: str
    images: list[str] | None = None
    videos: list[str] | None = None
    audios: list[str] | None = None
    documents: list[str] | None = None
    thought_process: str | None = None
    thought_signatures: list[str] | None = None
    search_results: list[dict[str, Any]] | None = None
    provider: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    status: Literal["complete", "streaming", "stopped", "error", "interrupted"] = "complete"
    finish_reason: str | None = Field(default=None, max_length=64)
    usage: dict[str, Any] | None = None
    error: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    created_at: Moment


class ArchivedSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int | None = Field(default=None, description="Its id in the exporting database")
    origin: str | None = Field(default=None, max_length=200, description="Where it was first imported from")
    title: str = Field(min_length=1, max_length=200)
    provider: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=200)
    system_prompt: str | None = None
    chat_id: str | None = Field(default=None, max_length=100)
    created_at: Moment
    updated_at: Moment
    current_leaf_id: int | None = Field(default=None, description="The message the conversation ends at now")
    messages: list[ArchivedMessage] = []

    @model_validator(mode="after")
    def _parents_come_first(self) -> "ArchivedSession":
        seen: set[int] = set()
        for index, message in enumerate(self.messages):
            if message.id in seen:
                raise ValueError(f"messages[{index}] repeats the id {message.id}")
            if message.parent_id is not None and message.parent_id not in seen:
                raise ValueError(
                    f"messages[{index}] (id {message.id}) has parent_id {message.parent_id}, "
                    "which is no earlier message of the session"
                )
            seen.add(message.id)
        if self.current_leaf_id is not None and self.current_leaf_id not in seen:
            raise ValueError(f"current_leaf_id {self.current_leaf_id} is no message of the session")
        return self

    def import_key(self) -> str:
        """Its `origin`, or for a session never imported before, one its content gives."""
        if self.origin:
            return self.origin
        content = self.model_dump(mode="json", exclude={"origin"})
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
        return f"{FORMAT}:{digest}"


class Archive(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["lite-llm-chat"] = FORMAT
    version: Literal[1] = VERSION
    exported_at: Moment
    sessions: list[ArchivedSession]
