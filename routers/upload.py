"""Upload: store an image, video or audio file that later messages refer to by its `/uploads/...` URL."""

from fastapi import APIRouter, UploadFile
from pydantic import BaseModel, ConfigDict

import media
from auth.current_user import CurrentUser
from auth.store import own_files
from routers.deps import AppSettings, Db
from routers.errors import UNREADABLE_BODY, UPLOAD_REFUSED, responses

router = APIRouter(tags=["upload"])


class UploadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    url: str
    kind: media.MediaKind
    mime: str
    size: int


# The part's declared type is not what decides (its bytes are), but it says what the file may be.
FILE_TYPES = {"file": {"contentType": ", ".join(media.UPLOAD_MIMES)}}


@router.post(
    "/upload",
    responses=responses(UNREADABLE_BODY, UPLOAD_REFUSED),
    openapi_extra={"requestBody": {"content": {"multipart/form-data": {"encoding": FILE_TYPES}}}},
)
async def upload(file: UploadFile, settings: AppSettings, db: Db, user: CurrentUser) -> UploadOut:
    """Store a file; its type is read from its bytes, never from its name or declared content type.

    It is the caller's: with AUTH_MODE=required only they can fetch it or send it in a chat.
    """
    stored = await media.save_upload(file, settings)
    await db.run_core(own_files, user.id, [stored.url.removeprefix(media.UPLOAD_PREFIX)])
    return UploadOut.model_validate(stored)
