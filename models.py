"""Request and response schemas of the HTTP API (API-CONTRACT.md shapes)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType

Role = Literal["user", "assistant", "system"]

# Row ids are INTEGER columns (32-bit on PostgreSQL): a larger number names no row, and is refused
# as invalid input before it reaches a database driver that cannot bind it.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
# A model id goes into vendor URLs (Gemini's) and a 200-character column: printable, and no longer.
ModelId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]

# A named schema (components/schemas/ProviderId): create_app lists the app's provider ids in it.
# The registry, not this type, refuses an unknown id (a 400 naming the known ones).
ProviderId = TypeAliasType("ProviderId", Annotated[str, Field(min_length=1)])

# What media.resolve takes. Only described here: media.py refuses any other reference, naming it.
MediaUrl = Annotated[str, Field(json_schema_extra={"pattern": "^(/uploads/|https://|data:)"})]


class ApiError(Exception):
    """A failure the API answers with its own status: `{"detail": str(error), **error.extra()}`.

    Every error a route may raise on purpose derives from it (missing rows, refused media, vendor
    failures, a draining server); app_factory answers them all with one handler.
    """

    status_code: int = 400
    headers: Mapping[str, str] = {}

    def extra(self) -> dict[str, Any]:
        """Keys the error body carries besides `detail`."""
        return {}


class RequestBody(BaseModel):
    """A request body: every value of the type its schema says, every string text UTF-8 can carry.

    Strict, as the schema is: `0` is no boolean and `"5"` no integer. JSON has one number type, so
    an integer is also a number, and `3.0` (which Python parses as a float) an integer.
    A JSON escape of half a UTF-16 surrogate pair decodes to a lone surrogate, which no database
    column or vendor request can take; the whole body is checked once, before any field.
    """

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        return _whole_numbers_as_ints(data)

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: Any) -> Any:
        where = _unpaired_surrogate(data, ())
        if where is not None:
            raise PydanticCustomError(
                "unpaired_surrogate",
                "{field} holds an unpaired surrogate, which is not text",
                {"field": ".".join(map(str, where)) or "the body"},
            )
        return data


def _whole_numbers_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_ints(item) for item in value]
    return value


def is_text(value: str) -> bool:
    """Whether UTF-8 can encode `value`: false when it holds a lone surrogate."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _unpaired_surrogate(value: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """Where in `value` the first string UTF-8 cannot encode is, or None."""
    if isinstance(value, str):
        return None if is_text(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unpaired_surrogate(key, (*path, "(key)")) or _unpaired_surrogate(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unpaired_surrogate(item, (*path, index))
            if found is not None:
                return found
    return None


class ProviderOut(BaseModel):
    id: str
    name: str
    description: str
    supported: bool
    configured: bool
    # The OpenAI-compatible front door's circuit breaker (gateway/breaker.py).
    circuit: Literal["closed", "open", "half_open"] = Field(
        "closed", description="open: skipped by fallbacks after repeated failures, until the cooldown ends"
    )
    failures: int = Field(0, description="Failures in a row (429, 5xx, timeout, unreachable)")
    cooldown_remaining: float = Field(
        0.0, description="Seconds until an open circuit lets a trial call through"
    )
    last_error: str | None = None


class ModelOut(BaseModel):
    id: str
    name: str
    provider: str
    description: str = ""
    context_length: int | None = None
    fallback: bool = Field(False, description="True when the vendor could not be asked")
    details: dict[str, Any] | None = Field(None, description="What the vendor says of it (Ollama's details)")


class SearchResult(BaseModel):
    title: str | None = None
    url: str
    content: str | None = None


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    role: Role
    content: str
    images: list[str] | None = None
    videos: list[str] | None = None
    audios: list[str] | None = None
    documents: list[str] | None = None
    search_results: list[SearchResult] | None = None
    created_at: datetime
    provider: str | None = None
    model: str | None = None
    thought_process: str | None = None
    thought_signatures: list[str] | None = None
    status: str = "complete"
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    error: str | None = None
    tool_calls: list[dict[str, Any]] | None = Field(
        None, description="Function calls the reply made: [{index, id, type, function: {name, arguments}}]"
    )
    parent_id: int | None = Field(None, description="The message it follows; siblings are its versions")


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    provider: str
    model: str
    system_prompt: str | None = None
    created_at: datetime
    updated_at: datetime
    message_count: int = 0
    chat_id: str | None = Field(None, description="Its id in the simple chat API (POST /chat), if it has one")
    current_leaf_id: int | None = Field(None, description="The last message of the branch it shows")
    origin: str | None = Field(None, description="Where it was imported from (POST /import), if it was")


class SessionDetail(SessionOut):
    messages: list[MessageOut]


class SessionCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"title": "Trip ideas", "provider": "deepseek", "model": "deepseek-chat"}]
        }
    )

    title: str = Field("New Chat", min_length=1, max_length=200)
    provider: ProviderId
    model: ModelId
    system_prompt: str | None = None


class SessionUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Renamed chat"}]})

    title: str = Field(min_length=1, max_length=200)


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(strict=True)

    role: Role = "user"
    content: str = ""
    images: list[MediaUrl] | None = None
    videos: list[MediaUrl] | None = None
    audios: list[MediaUrl] | None = None
    documents: list[MediaUrl] | None = Field(default=None, description="PDFs, for the vendors that read them")


ImageDetail = Literal["auto", "low", "high"]
# A Go duration, as Ollama reads `keep_alive` (https://pkg.go.dev/time#ParseDuration).
KeepAlive = Annotated[str, Field(pattern=r"^-?(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")]


class _ThinkingObject(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    display: Literal["summarized", "omitted"] | None = Field(
        None, description="omitted: the thinking text is left out, its signature still returned"
    )


class ThinkingEnabled(_ThinkingObject):
    type: Literal["enabled"]
    budget_tokens: int = Field(ge=1024, description="Most thinking tokens; less than max_tokens")


class ThinkingAdaptive(_ThinkingObject):
    type: Literal["adaptive"]


class ThinkingDisabled(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    type: Literal["disabled"]


def _thinking_form(value: Any) -> str | None:
    # Called on the request's JSON when validating, and on the parsed value when serializing.
    if isinstance(value, dict | BaseModel):
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return kind if kind in ("enabled", "adaptive", "disabled") else None
    return "auto" if value == "auto" else "switch"


# A switch (DeepSeek, Nvidia), "auto" (Doubao), or Anthropic's thinking object
# (https://platform.claude.com/docs/en/build-with-claude/extended-thinking); DeepSeek and Doubao take
# the object's enabled/disabled form too.
Thinking = Annotated[
    Annotated[bool, Tag("switch")]
    | Annotated[Literal["auto"], Tag("auto")]
    | Annotated[ThinkingEnabled, Tag("enabled")]
    | Annotated[ThinkingAdaptive, Tag("adaptive")]
    | Annotated[ThinkingDisabled, Tag("disabled")],
    Discriminator(
        _thinking_form,
        custom_error_type="thinking_form",
        custom_error_message='thinking must be a boolean, "auto", or an object whose type is '
        "enabled, adaptive or disabled",
    ),
]

# Chat-request fields that shape media parts rather than travel as request parameters.
MEDIA_FIELDS = frozenset({"image_detail", "video_detail", "fps", "max_frames", "image_pixel_limit"})
# Chat-request fields that describe the turn itself, never forwarded as parameters.
TURN_FIELDS = frozenset(
    {
        "session_id",
        "provider",
        "model",
        "messages",
        "message_provider",
        "message_model",
        "stream",
        "title",
        "system_prompt",
    }
)


class ChatRequest(RequestBody):
    """A chat turn: the new message(s) plus the settings of the chosen provider, flat."""

    model_config = ConfigDict(
        # JSON has no NaN or Infinity, but the request parser takes them: refuse them by name.
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "provider": "deepseek",
                    "model": "deepseek-chat",
                    "title": "My Chat",
                    "messages": [{"role": "user", "content": "Hello!"}],
                    "stream": True,
                    "temperature": 0.7,
                }
            ]
        },
    )

    session_id: RowId | None = None
    provider: ProviderId
    model: ModelId
    messages: list[ChatMessageIn] = Field(min_length=1)
    message_provider: ProviderId | None = None
    message_model: ModelId | None = None
    stream: bool = True
    title: str | None = Field(None, max_length=200)
    system_prompt: str | None = None

    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stop: list[str] | str | None = None

    image_detail: ImageDetail | None = None
    video_detail: ImageDetail | None = None
    fps: float | None = Field(None, gt=0, le=60)
    max_frames: int | None = Field(None, ge=1)
    image_pixel_limit: dict[str, int] | None = None

    thinking: Thinking | None = Field(
        None,
        description='"auto" lets Doubao decide; Anthropic takes {"type": "enabled", "budget_tokens": N} '
        'or {"type": "adaptive"}',
    )
    reasoning_effort: str | None = None
    enable_thinking: bool | None = None
    thinking_budget: int | None = Field(None, ge=128, le=32768)
    min_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=-1)
    transforms: list[str] | None = None
    models: list[str] | None = None
    route: str | None = None
    repetition_penalty: float | None = Field(None, ge=0, le=2)
    top_a: float | None = Field(None, ge=0, le=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    structured_outputs: bool | None = None
    parallel_tool_calls: bool | None = None
    reasoning: dict[str, Any] | None = None
    modalities: list[str] | None = None
    image_config: dict[str, Any] | None = None
    plugins: list[dict[str, Any]] | None = None
    web_search_options: dict[str, Any] | None = None
    safe_prompt: bool | None = None
    random_seed: int | None = None
    reasoning_format: Literal["parsed", "raw", "hidden"] | None = None
    include_reasoning: bool | None = None
    disable_reasoning: bool | None = None

    # Doubao Seedream images (https://www.volcengine.com/docs/82379/1541523) and Seedance videos
    # (https://www.volcengine.com/docs/82379/1520757); watermark and seed apply to both.
    sequential_image_generation: Literal["auto", "disabled"] | None = None
    max_images: int | None = Field(None, ge=1, le=15)
    watermark: bool | None = None
    prompt_optimize_mode: str | None = Field(None, description="standard or fast")
    size: str | None = Field(None, description='"1K", "2K", "4K" or "<width>x<height>"')
    seed: int | None = Field(None, ge=-1, le=2**31 - 1)
    resolution: str | None = Field(None, description="480p, 720p or 1080p")
    ratio: str | None = Field(None, description='"16:9", "4:3", "1:1", "3:4", "9:16", "21:9" or "adaptive"')
    duration: int | None = Field(None, ge=2, le=30, description="Seconds; each Seedance model has its range")
    generate_audio: bool | None = None
    draft: bool | None = None
    camera_fixed: bool | None = None

    # Gemini (https://ai.google.dev/gemini-api/docs/thinking, .../google-search, .../url-context)
    thinking_level: Literal["minimal", "low", "medium", "high"] | None = None
    media_resolution: str | None = Field(
        None, description="low, medium or high (MEDIA_RESOLUTION_* accepted)"
    )
    google_search: bool | None = None
    url_context: bool | None = None
    # Anthropic's server-side web search tool (https://platform.claude.com/docs/en/agents-and-tools/tool-use/web-search-tool)
    web_search: bool | None = None
    # Imagen (https://ai.google.dev/gemini-api/docs/imagen#imagen-configuration)
    imagen_number_of_images: int | None = Field(None, ge=1, le=4)
    imagen_image_size: Literal["1K", "2K"] | None = None
    imagen_aspect_ratio: Literal["1:1", "3:4", "4:3", "9:16", "16:9"] | None = None
    imagen_person_generation: str | None = Field(None, description="dont_allow, allow_adult or allow_all")
    # Ollama (https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion,
    # docs/modelfile.md#valid-parameters-and-values); temperature, top_k, top_p, min_p, seed and stop
    # above go to it too.
    think: bool | Literal["low", "medium", "high"] | None = Field(None, description="Ollama's thinking")
    keep_alive: float | KeepAlive | None = Field(
        None, description='How long Ollama keeps the model loaded: seconds, or "5m", "1h30m"; < 0: always'
    )
    num_ctx: int | None = Field(None, ge=1, le=2**31 - 1)
    num_predict: int | None = Field(None, ge=-2, le=2**31 - 1, description="-1: no limit; -2: the context")
    repeat_penalty: float | None = Field(None, ge=0, le=2)

    def sent_options(self) -> dict[str, Any]:
        """The parameters the client actually sent (never defaults), minus the turn's own fields."""
        sent = self.model_dump(exclude_unset=True, exclude=set(TURN_FIELDS))
        return {key: value for key, value in sent.items() if value is not None}


class ContinueRequest(RequestBody):
    stream: bool = True


class ChatResponse(BaseModel):
    session_id: int
    message: MessageOut


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: bool
    timestamp: datetime
    response_code: int = Field(default=200, description="The HTTP status of this answer")
