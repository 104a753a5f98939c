"""Export and import of sessions (archive/): our own lossless format, and ChatGPT's export."""

import asyncio

from fastapi import APIRouter, Response, UploadFile
from pydantic import BaseModel

from archive.errors import FileTooLarge
from archive.ours import Archive
from archive.reader import read_archive
from archive.store import export_sessions, import_sessions
from auth.current_user import CurrentUser
from database import NotFoundError
from routers.deps import AppSettings, Db, SessionId
from routers.errors import SESSION_NOT_FOUND, UNREADABLE_BODY, ErrorOut, InvalidOut, Responses, responses

router = APIRouter(tags=["archive"])

MB = 1024 * 1024
READ_CHUNK = MB
BAD_ARCHIVE: Responses = {
    413: {"model": ErrorOut, "description": "The file is larger than MAX_IMPORT_MB"},
    422: {
        "model": InvalidOut,
        "description": "No file part; or not an archive of ours or ChatGPT's, its first bad entry named",
    },
}


class ImportOut(BaseModel):
    imported: int
    skipped: int
    session_ids: list[int]


def _download(response: Response, name: str) -> None:
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'


@router.get("/export")
async def export_all(db: Db, user: CurrentUser, response: Response) -> Archive:
    """Every session of the caller's with all its messages, in our own format (POST /import reads it back)."""
    _download(response, "chat-history.json")
    return await db.run(export_sessions, user.id)


@router.get("/sessions/{session_id}/export", responses=SESSION_NOT_FOUND)
async def export_one(db: Db, user: CurrentUser, response: Response, session_id: SessionId) -> Archive:
    """One session with all its messages (every branch), in our own format."""
    archive = await db.run(export_sessions, user.id, [session_id])
    if not archive.sessions:
        raise NotFoundError(f"Session {session_id} not found")
    _download(response, f"chat-session-{session_id}.json")
    return archive


@router.post("/import", responses=responses(UNREADABLE_BODY, BAD_ARCHIVE))
async def import_file(db: Db, settings: AppSettings, user: CurrentUser, file: UploadFile) -> ImportOut:
    """Import an archive of ours or ChatGPT's `conversations.json`, all of it or nothing.

    A session imported before (by the same file or another holding it) is skipped, not doubled.
    """
    data = await _read_limited(file, settings.max_import_mb)
    sessions = await asyncio.to_thread(read_archive, data)
    result = await db.run(import_sessions, user.id, sessions)
    return ImportOut(imported=len(result.imported), skipped=result.skipped, session_ids=result.imported)


async def _read_limited(file: UploadFile, limit_mb: float) -> bytes:
    pieces: list[bytes] = []
    size = 0
    while piece := await file.read(READ_CHUNK):
        size += len(piece)
        if size > limit_mb * MB:
            raise FileTooLarge(f"The file is larger than {limit_mb:g} MB (MAX_IMPORT_MB)")
        pieces.append(piece)
    return b"".join(pieces)
