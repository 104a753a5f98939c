"""Seedance video generation on Ark: a task created, polled until it ends, cancelled on stop.

https://www.volcengine.com/docs/82379/1520757 (create a task), ../shared/wire/doubao-ark.md
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx2
import openai

from providers.base import GeneratedMedia, Progress, ProviderRequest, StreamEvent
from providers.doubao_generation import closing, download, failure, long_call, prompt_turn, references
from providers.errors import ProviderError, ProviderTimeout, ProviderUnavailable, map_openai_errors

if TYPE_CHECKING:
    from providers.doubao import DoubaoProvider

VIDEO_PARAMS = frozenset(
    {"resolution", "ratio", "duration", "generate_audio", "draft", "camera_fixed", "seed", "watermark"}
)
TASKS = "/contents/generations/tasks"
# A task in any other state is still queued or running (https://www.volcengine.com/docs/82379/1521309).
TASK_ENDED = frozenset({"succeeded", "failed", "cancelled", "expired"})


async def seedance_events(provider: "DoubaoProvider", request: ProviderRequest) -> AsyncIterator[StreamEvent]:
    turn = prompt_turn(request)
    content: list[dict[str, Any]] = [{"type": "text", "text": turn.content}]
    images = references(turn)
    for url, role in zip(images, _frame_roles(len(images)), strict=True):
        part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
        content.append({**part, "role": role} if role else part)
    body = {"model": request.model, "content": content, **request.params}
    client = provider.client
    with map_openai_errors(provider.id):
        created = await client.post(
            TASKS, body=body, cast_to=dict[str, Any], options=long_call(provider.settings)
        )
        path = f"{TASKS}/{created['id']}"
        try:
            while (task := await client.get(path, cast_to=dict[str, Any]))["status"] not in TASK_ENDED:
                yield Progress(task["status"])
                await asyncio.sleep(provider.poll_interval)
        except asyncio.CancelledError:
            await asyncio.shield(_cancel_task(provider, path))
            raise
    if task["status"] != "succeeded":
        raise _task_error(provider.id, task)
    video = await download(provider, task["content"]["video_url"], "video/mp4")
    yield GeneratedMedia("videos", (video,))
    for event in closing(task):
        yield event


async def _cancel_task(provider: "DoubaoProvider", path: str) -> None:
    """Best effort, when the reply is stopped: `DELETE .../tasks/{id}` cancels a queued task."""
    with contextlib.suppress(openai.APIError, TimeoutError):
        async with asyncio.timeout(provider.settings.timeout):
            await provider.client.delete(path, cast_to=httpx2.Response, options={"max_retries": 0})


def _task_error(provider: str, task: dict[str, Any]) -> ProviderError:
    status = task["status"]
    limit = task.get("execution_expires_after")
    default = f"not finished within {limit} s" if status == "expired" and limit else "no reason given"
    error_class = ProviderTimeout if status == "expired" else ProviderUnavailable
    return error_class(provider, f"video task {status}: {failure(task, default)}")


def _frame_roles(count: int) -> tuple[str | None, ...]:
    # One image is the first frame (the default role); two are the first and last frames;
    # more are reference images (https://www.volcengine.com/docs/82379/1520757, content.role).
    return {1: (None,), 2: ("first_frame", "last_frame")}.get(count, ("reference_image",) * count)
