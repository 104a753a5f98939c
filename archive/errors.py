from typing import Any

from pydantic import ValidationError

from models import ApiError


class InvalidArchive(ApiError):
    """A file that cannot be imported; the message names its first bad entry. Nothing is imported."""

    status_code = 422


class FileTooLarge(InvalidArchive):
    status_code = 413


def where(location: tuple[int | str, ...]) -> str:
    """A pydantic error location written as a path into the file: `sessions[2].messages[0].role`."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "the file"


def first_error(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> InvalidArchive:
    error: Any = exc.errors(include_url=False)[0]
    return InvalidArchive(f"{where((*prefix, *error['loc']))}: {error['msg']}")
