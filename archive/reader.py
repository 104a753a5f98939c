"""A file to import: which format it is, and its sessions, all checked before anything is stored."""

from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from archive import chatgpt
from archive.errors import InvalidArchive, first_error
from archive.ours import FORMAT, Archive, ArchivedSession

_CONVERSATIONS = TypeAdapter(list[chatgpt.Conversation])


def read_archive(data: bytes) -> list[ArchivedSession]:
    """The sessions of an archive of ours or of ChatGPT's `conversations.json`.

    Raises:
        InvalidArchive: the file is not JSON, not of either format, or an entry is malformed.
    """
    try:
        document: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidArchive(f"The file is not JSON: {exc}") from exc
    if isinstance(document, dict) and "format" in document:
        if document["format"] != FORMAT:
            raise InvalidArchive(f"format: {document['format']!r} is not {FORMAT!r}")
        try:
            return Archive.model_validate(document).sessions
        except ValidationError as exc:
            raise first_error(exc) from exc
    if isinstance(document, list):
        try:
            conversations = _CONVERSATIONS.validate_python(document)
        except ValidationError as exc:
            raise first_error(exc, ("conversations",)) from exc
        return [chatgpt.to_session(conversation, index) for index, conversation in enumerate(conversations)]
    raise InvalidArchive(
        f'The file is neither an archive of ours (an object with "format": "{FORMAT}") nor '
        "ChatGPT's conversations.json (an array of conversations)"
    )
