"""A fake Volcengine Ark: chat, Seedream images and Seedance video tasks (../shared/wire/doubao-ark.md).

Chat replies are scripted as for the OpenAI fake (`vendor.queue(Reply(...))`), image replies with
`vendor.image_replies.append(JsonReply(...))`, the states a video task walks through with
`vendor.task_states.extend(["running", "succeeded"])`. Every request is recorded in
`vendor.requests`. Generated media is served by the fake itself under `/files/`, so the service
downloads results for real, as it does from Ark's object storage.
"""

import copy
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.openai_vendor import FakeOpenAIVendor, Received, Reply, wire

PREFIX = "/api/v3"
TASK_ID = "cgt-20250818093015-8lq2v"
# Not real media: the service stores what it downloads without decoding it.
IMAGE_BYTES = b"\xff\xd8\xff\xe0fake-seedream-jpeg"
VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42fake-seedance-video"


def wire_json(name: str) -> Any:
    return json.loads(wire(name))


def thinking_stream() -> Reply:
    """The recorded Doubao Seed 1.6 reply: reasoning in `reasoning_content`, then text, then usage."""
    return Reply([wire("ark-chat-thinking.sse")])


def auth_error() -> dict[str, Any]:
    return wire_json("ark-error-401.json")  # type: ignore[no-any-return]


@dataclass
class JsonReply:
    """A scripted JSON answer: `body=None` means the recorded sample for that endpoint."""

    status: int = 200
    body: dict[str, Any] | None = None


class FakeArkVendor(FakeOpenAIVendor):
    def __init__(self) -> None:
        super().__init__()
        self.image_replies: deque[JsonReply] = deque()
        self.task_replies: deque[JsonReply] = deque()
        # States the task reports, one per poll; the last one repeats.
        self.task_states: deque[str] = deque()
        self.task_error: dict[str, Any] = {
            "code": "OutputVideoSensitiveContentDetected",
            "message": "The request failed because the output video may contain sensitive information.",
        }
        self.files: dict[str, tuple[bytes, str]] = {
            "image-0.jpeg": (IMAGE_BYTES, "image/jpeg"),
            "image-1.jpeg": (IMAGE_BYTES + b"-1", "image/jpeg"),
            "video.mp4": (VIDEO_BYTES, "video/mp4"),
        }
        self.downloads: list[str] = []
        self.cancelled: list[str] = []
        self.app = Starlette(
            routes=[
                Route(f"{PREFIX}/chat/completions", self._chat, methods=["POST"]),
                Route(f"{PREFIX}/images/generations", self._images, methods=["POST"]),
                Route(f"{PREFIX}/contents/generations/tasks", self._create_task, methods=["POST"]),
                Route(f"{PREFIX}/contents/generations/tasks/{{task_id}}", self._get_task, methods=["GET"]),
                Route(
                    f"{PREFIX}/contents/generations/tasks/{{task_id}}", self._cancel_task, methods=["DELETE"]
                ),
                Route("/files/{name}", self._file, methods=["GET"]),
            ]
        )

    def sent(self, path: str) -> list[Received]:
        """The requests received at a path under /api/v3."""
        return [r for r in self.requests if r.path == PREFIX + path]

    async def _chat(self, request: Request) -> Response:
        if not self.replies:  # unscripted, Ark answers with its recorded reasoning reply
            self.replies.append(thinking_stream())
        return await super()._chat(request)

    async def _record(self, request: Request) -> None:
        body = await request.json() if request.method == "POST" else {}
        self.requests.append(Received(request.url.path, dict(request.headers), body))

    async def _images(self, request: Request) -> Response:
        await self._record(request)
        reply = self.image_replies.popleft() if self.image_replies else JsonReply()
        if reply.body is not None:
            return JSONResponse(reply.body, status_code=reply.status)
        body = wire_json("ark-seedream-response.json")
        for index, item in enumerate(body["data"]):
            item["url"] = f"{request.base_url}files/image-{index}.jpeg"
        return JSONResponse(body, status_code=reply.status)

    async def _create_task(self, request: Request) -> Response:
        await self._record(request)
        reply = self.task_replies.popleft() if self.task_replies else JsonReply()
        body = wire_json("ark-seedance-create-response.json") if reply.body is None else reply.body
        return JSONResponse(body, status_code=reply.status)

    async def _cancel_task(self, request: Request) -> Response:
        await self._record(request)
        self.cancelled.append(request.path_params["task_id"])
        return JSONResponse({})

    async def _get_task(self, request: Request) -> Response:
        await self._record(request)
        states = self.task_states
        state = states.popleft() if len(states) > 1 else next(iter(states), "succeeded")
        if state == "succeeded":
            body = wire_json("ark-seedance-task-succeeded.json")
            body["content"] = {
                "video_url": f"{request.base_url}files/video.mp4",
                "last_frame_url": f"{request.base_url}files/image-0.jpeg",
            }
        else:
            body = wire_json("ark-seedance-task-running.json")
            body["status"] = state
            if state == "failed":
                body["error"] = copy.deepcopy(self.task_error)
        body["id"] = request.path_params["task_id"]
        return JSONResponse(body)

    async def _file(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.downloads.append(name)
        if name not in self.files:
            return Response(b"NoSuchKey", status_code=404)
        data, mime = self.files[name]
        return Response(data, media_type=mime)
