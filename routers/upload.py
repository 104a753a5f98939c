"""Upload: store an image, video or audio file that later messages refer to by its `/uploads/...` URL."""

from typing import Any

from fastapi import APIRouter, UploadFile
from pydantic import BaseModel, ConfigDict

import media
from routers.deps import AppSettings

router = APIRouter(tags=["upload"])


class UploadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    url: str
    kind: media.MediaKind
    mime: str
    size: int


_REFUSALS: dict[int | str, dict[str, Any]] = {
    413: {"description": "Over MAX_IMAGE_MB / MAX_VIDEO_MB / MAX_AUDIO_MB, or over MAX_IMAGE_PIXELS"},
    415: {"description": "Not an image, video or audio file we take (decided from its bytes), or markup"},
}


@router.post("/upload", responses=_REFUSALS)
async def upload(file: UploadFile, settings: AppSettings) -> UploadOut:
    """Store a file; its type is read from its bytes, never from its name or declared content type."""
    stored = await media.save_upload(file, settings)
    return UploadOut.model_validate(stored)
