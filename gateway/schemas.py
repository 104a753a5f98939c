"""The Chat Completions request as the front door takes it (https://platform.openai.com/docs/api-reference/chat).

Fields it does not declare are allowed: an OpenAI-family vendor that takes them gets them, and
X-Ignored-Parameters names the rest.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models import ModelId, RequestBody

WireRole = Literal["system", "developer", "user", "assistant", "tool"]


class WireMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: WireRole
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """Its text: the content, or the text of its parts."""
        if isinstance(self.content, str):
            return self.content
        parts = self.content or []
        return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")

    def image_urls(self) -> list[str]:
        if not isinstance(self.content, list):
            return []
        urls = [(p.get("image_url") or {}).get("url") for p in self.content if p.get("type") == "image_url"]
        return [url for url in urls if isinstance(url, str)]

    def wire(self) -> dict[str, Any]:
        """The message as it goes to an OpenAI-family vendor: only what the client sent."""
        return self.model_dump(exclude_unset=True)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


# Fields of the request that shape the call itself and are never sent to a vendor as parameters.
CALL_FIELDS = frozenset({"model", "messages", "stream", "stream_options", "n", "user", "metadata"})
# Fields an OpenAI-family vendor takes as they are; no other vendor takes them.
OPENAI_WIRE_PARAMS = frozenset({"tools", "tool_choice", "parallel_tool_calls", "response_format"})


class CompletionRequest(RequestBody):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    model: ModelId
    messages: list[WireMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    seed: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    reasoning_effort: str | None = None
    user: str | None = Field(None, max_length=200)
    metadata: dict[str, str] | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value is not None and value != 1:
            raise ValueError("only n=1 is supported: each call is one reply, stored as one message")
        return value

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    @property
    def uses_tools(self) -> bool:
        return bool(self.tools) or any(m.role == "tool" or m.tool_calls for m in self.messages)

    def options(self) -> dict[str, Any]:
        """The parameters the client sent (none of the call's own fields), unset and null ones left out."""
        sent = self.model_dump(exclude_unset=True, exclude=set(CALL_FIELDS))
        return {key: value for key, value in sent.items() if value is not None}

    def session_id(self) -> str | None:
        return (self.metadata or {}).get("session_id")
