"""Everything the OpenAI-compatible vendors share, on the official `openai` SDK.

A vendor module declares what differs (identity, settings, accepted parameters, where reasoning
text lives) and overrides one of the small hooks below only where its wire really differs.
"""

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, ClassVar, Literal

import httpx2
import openai
import orjson

from media import MediaRef, MediaSupport
from providers.base import (
    Finish,
    ModelInfo,
    PooledProvider,
    ProviderRequest,
    ReasoningDelta,
    SearchResults,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Turn,
    Usage,
)
from providers.errors import ProviderUnavailable, map_openai_errors
from providers.sse import body_bytes, drain, sse_data, whole_body
from providers.stream_start import post_stream
from providers.think_tags import ThinkTagSplitter

# The formats `input_audio` takes, by MIME type (https://platform.openai.com/docs/guides/audio).
INPUT_AUDIO_FORMATS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
}
# Chat Completions takes media only in user messages: assistant content is text.
FROM_USER = frozenset({"user"})


class OpenAICompatProvider(PooledProvider[openai.AsyncOpenAI]):
    """A vendor that speaks OpenAI Chat Completions at `base_url`."""

    # Delta fields that carry reasoning text, in the order they are looked for.
    reasoning_fields: ClassVar[tuple[str, ...]] = ("reasoning_content", "reasoning")
    # Models that write reasoning inline as <think>...</think> in the content.
    think_tags: ClassVar[bool] = True
    # Whether the vendor takes `stream_options: {"include_usage": true}`.
    stream_usage_option: ClassVar[bool] = True
    # Our parameter name -> the vendor's, where they differ.
    param_renames: ClassVar[dict[str, str]] = {}
    media_params: ClassVar[frozenset[str]] = frozenset({"image_detail"})
    # Chat Completions takes image_url parts, as URLs or data URLs; vendors declare more kinds.
    media = MediaSupport(kinds=frozenset({"image"}), remote_kinds=frozenset({"image"}), roles=FROM_USER)
    # How the vendor takes audio: OpenAI's `input_audio` (base64 bytes and a format) or `audio_url`.
    audio_part_type: ClassVar[Literal["input_audio", "audio_url"]] = "input_audio"
    speaks_openai: ClassVar[bool] = True

    def build_client(self, http: httpx2.AsyncClient) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self.settings.api_key,
            base_url=self.settings.base_url,
            timeout=self.settings.timeout,
            max_retries=self.settings.max_retries,
            default_headers=self.extra_headers(),
            http_client=http,
        )

    def extra_headers(self) -> dict[str, str]:
        """Headers sent with every request (attribution headers, for instance)."""
        return {}

    # --- request ----------------------------------------------------------------------------

    def wire_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """Translate our parameter names and values into the vendor's wire form."""
        renamed = {self.param_renames.get(key, key): value for key, value in params.items()}
        # When both spellings were sent, the vendor's own one wins.
        for ours, theirs in self.param_renames.items():
            if ours in params and theirs in params:
                renamed[theirs] = params[theirs]
        return renamed

    def build_messages(self, request: ProviderRequest) -> list[dict[str, Any]]:
        if request.wire_messages is not None:
            return list(request.wire_messages)
        messages = [self.message_payload(turn, request) for turn in request.messages]
        if request.system_prompt:
            messages.insert(0, {"role": "system", "content": request.system_prompt})
        return messages

    def message_payload(self, turn: Turn, request: ProviderRequest) -> dict[str, Any]:
        # The turn's media were read and filtered by what this vendor declares (`media`).
        if not turn.media:
            return {"role": turn.role, "content": turn.content}
        text = [{"type": "text", "text": turn.content}] if turn.content else []
        parts = [self.media_part(ref, request.media_options) for ref in turn.media]
        return {"role": turn.role, "content": [*text, *parts]}

    def media_part(self, ref: MediaRef, options: Mapping[str, Any]) -> dict[str, Any]:
        if ref.kind == "video":
            return self.video_part(ref, options)
        if ref.kind == "audio":
            return self.audio_part(ref, options)
        if ref.kind == "document":
            return self.file_part(ref)
        return self.image_part(ref, options)

    def image_part(self, ref: MediaRef, options: Mapping[str, Any]) -> dict[str, Any]:
        image: dict[str, Any] = {"url": ref.data_url()}
        if "image_detail" in options:
            image["detail"] = options["image_detail"]
        return {"type": "image_url", "image_url": image}

    def video_part(self, ref: MediaRef, options: Mapping[str, Any]) -> dict[str, Any]:
        # Only the settings this vendor declares in media_params reach `options`.
        video: dict[str, Any] = {"url": ref.data_url()}
        for ours, theirs in (("video_detail", "detail"), ("fps", "fps"), ("max_frames", "max_frames")):
            if ours in options:
                video[theirs] = options[ours]
        return {"type": "video_url", "video_url": video}

    def file_part(self, ref: MediaRef) -> dict[str, Any]:
        # Chat Completions takes a PDF as a data URL with a file name, never as a remote URL.
        name = ref.url.rpartition("/")[2] if ref.source == "upload" else "document.pdf"
        return {"type": "file", "file": {"filename": name, "file_data": ref.data_url()}}

    def audio_part(self, ref: MediaRef, options: Mapping[str, Any]) -> dict[str, Any]:
        if self.audio_part_type == "audio_url":
            return {"type": "audio_url", "audio_url": {"url": ref.data_url()}}
        # input_audio carries plain base64 (no data: prefix) and the format's short name.
        mime = ref.mime or "audio/wav"
        audio_format = INPUT_AUDIO_FORMATS.get(mime, mime.rpartition("/")[2])
        return {"type": "input_audio", "input_audio": {"data": ref.base64_data(), "format": audio_format}}

    # --- response ---------------------------------------------------------------------------

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        body = self.wire_params(dict(request.params))
        if self.stream_usage_option:
            body["stream_options"] = {"include_usage": True}
        messages = self.build_messages(request)
        payload = {**body, "model": request.model, "messages": messages, "stream": True}
        splitter = ThinkTagSplitter() if self.think_tags else None
        with map_openai_errors(self.id):
            http = await post_stream(
                self.client, "/chat/completions", payload, self.id, self.settings.timeout
            )
            # Leaving this block (end, error, or a stop cancelling us) closes the upstream connection.
            try:
                if _sent_whole(http):
                    completion = orjson.loads(await whole_body(body_bytes(http)))
                    for event in self.completion_events(completion, splitter, http.request):
                        yield event
                else:
                    # Read as plain JSON: building the SDK's chunk models costs most of a chunk's CPU.
                    events = sse_data(body_bytes(http))
                    async for data in events:
                        if data.startswith("[DONE]"):
                            break
                        chunk = orjson.loads(data)
                        if chunk.get("error"):
                            raise stream_error(chunk["error"], http.request)
                        for event in self.events_from_chunk(chunk, splitter):
                            yield event
                    await drain(events)
            finally:
                await http.aclose()
        if splitter is not None:
            for event in splitter.flush():
                yield event

    def completion_events(
        self, completion: Any, splitter: ThinkTagSplitter | None, request: httpx2.Request
    ) -> list[StreamEvent]:
        """The events of a reply sent whole: each `choices[].message` mapped as a chunk's `delta`."""
        if not isinstance(completion, dict):
            raise ProviderUnavailable(self.id, "unreadable reply from the vendor: no chat completion")
        if completion.get("error"):
            # A 200 whose body is an error object: the vendor failed as it would inside a stream.
            raise stream_error(completion["error"], request)
        choices = [{**choice, "delta": choice.get("message")} for choice in completion.get("choices") or ()]
        return self.events_from_chunk({**completion, "choices": choices}, splitter)

    def events_from_chunk(
        self, chunk: dict[str, Any], splitter: ThinkTagSplitter | None
    ) -> list[StreamEvent]:
        # Runs for every relayed chunk: the hooks are called only for fields the chunk carries.
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if delta:
                events.extend(self.reasoning_events(delta))
                content = delta.get("content")
                if content:
                    events.extend(self.text_events(content, splitter))
                if delta.get("annotations"):
                    events.extend(self.citation_events(delta))
                if delta.get("tool_calls"):
                    events.extend(self.tool_call_events(delta["tool_calls"]))
            if choice.get("finish_reason"):
                events.append(Finish(choice["finish_reason"]))
        if chunk.get("usage"):
            events.extend(self.usage_events(chunk))
        return events

    def reasoning_events(self, delta: dict[str, Any]) -> Iterable[StreamEvent]:
        for name in self.reasoning_fields:
            if name in delta:
                text = delta[name]
                if isinstance(text, str) and text:
                    return (ReasoningDelta(text),)
        return ()

    def text_events(self, content: Any, splitter: ThinkTagSplitter | None) -> Iterable[StreamEvent]:
        if not content or not isinstance(content, str):
            return ()
        if splitter is None:
            return (TextDelta(content),)
        return splitter.feed(content)

    def tool_call_events(self, calls: Any) -> Iterable[StreamEvent]:
        if not isinstance(calls, list):
            return ()
        # A reply sent whole lists complete calls without the `index` a stream's pieces carry.
        items = tuple(
            call if "index" in call else {"index": position, **call}
            for position, call in enumerate(calls)
            if isinstance(call, dict)
        )
        return (ToolCallDelta(items),) if items else ()

    def citation_events(self, delta: dict[str, Any]) -> Iterable[StreamEvent]:
        annotations = delta.get("annotations")
        items = tuple(_citations(annotations))
        return (SearchResults(items),) if items else ()

    def usage_events(self, chunk: dict[str, Any]) -> Iterable[StreamEvent]:
        usage = chunk.get("usage")
        if not usage:
            return ()
        return (Usage({k: v for k, v in usage.items() if v is not None}),)

    # --- models -----------------------------------------------------------------------------

    async def list_models(self) -> list[ModelInfo]:
        with map_openai_errors(self.id):
            try:
                page = await self.client.models.list()
                items = list(page.data)
            except (AttributeError, TypeError) as exc:
                # A 200 that is no model list (an HTML page, `"data": null`): the SDK does not check.
                raise ProviderUnavailable(self.id, f"unreadable model list from the vendor: {exc}") from exc
        return [self.model_info(item) for item in items if isinstance(getattr(item, "id", None), str)]

    def model_info(self, item: Any) -> ModelInfo:
        extra = item.model_extra or {}
        return ModelInfo(
            id=item.id,
            name=extra.get("name") or item.id,
            description=extra.get("description") or "",
            context_length=extra.get("context_length"),
        )


def _citations(annotations: Any) -> Iterable[dict[str, Any]]:
    for note in annotations or ():
        if not isinstance(note, dict) or note.get("type") != "url_citation":
            continue
        cite = note.get("url_citation") or {}
        if cite.get("url"):
            yield {
                "title": cite.get("title") or cite["url"],
                "url": cite["url"],
                "content": cite.get("content") or "",
            }


def _sent_whole(http: httpx2.Response) -> bool:
    """Whether the vendor answered `stream: true` with one JSON chat.completion instead of events.

    DeepSeek keeps such a reply alive with blank lines before the JSON while the model thinks
    (https://api-docs.deepseek.com/quick_start/rate_limit); JSON allows that whitespace. A stream
    under any other content type (or none) is still read as events, as the openai SDK reads it.
    """
    media_type = http.headers.get("content-type", "").partition(";")[0]
    return media_type.strip().lower() == "application/json"


def stream_error(error: Any, request: httpx2.Request) -> openai.APIError:
    """An in-stream `{"error": ...}` payload, as the SDK itself would raise it."""
    message = error.get("message") if isinstance(error, dict) else None
    return openai.APIError(message or "An error occurred during streaming", request, body=error)
