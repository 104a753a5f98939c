"""The request and response bodies of the tree routes.

An edit or a regeneration takes the same flat provider settings as a chat turn: `TurnOptions` is
ChatRequest's option fields, declared once there and copied here, so the two never drift.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from models import (
    TURN_FIELDS,
    ChatMessageIn,
    ChatRequest,
    MediaUrl,
    MessageOut,
    ModelId,
    ProviderId,
    RequestBody,
    RowId,
)


class _Options(RequestBody):
    model_config = ConfigDict(strict=True, allow_inf_nan=False)


TurnOptions: type[_Options] = create_model(  # type: ignore[call-overload]
    "TurnOptions",
    __base__=_Options,
    **{
        name: (field.annotation, field)
        for name, field in ChatRequest.model_fields.items()
        if name not in TURN_FIELDS
    },
)


class RegenerateRequest(TurnOptions):  # type: ignore[misc,valid-type]
    """Another reply to the same message; by default from the provider and model of the one it replaces."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"provider": "deepseek", "model": "deepseek-chat"}]}
    )

    provider: ProviderId | None = None
    model: ModelId | None = None
    stream: bool = True

    def options(self) -> dict[str, Any]:
        """The provider settings the client sent, as flat fields of a chat request."""
        sent = self.model_dump(
            exclude_unset=True, exclude={"provider", "model", "stream", *self._own_fields()}
        )
        return {key: value for key, value in sent.items() if value is not None}

    @classmethod
    def _own_fields(cls) -> set[str]:
        return set()

    def chat_request(
        self, session_id: int, provider: str, model: str, content: list[ChatMessageIn]
    ) -> ChatRequest:
        """The chat turn this amounts to: `content` (maybe none) below a parent, with these settings."""
        turn = {
            **self.options(),
            "session_id": session_id,
            "provider": self.provider or provider,
            "model": self.model or model,
            "messages": [message.model_dump() for message in content] or [{"content": ""}],
            "stream": self.stream,
        }
        request = ChatRequest.model_validate(turn)
        return request if content else request.model_copy(update={"messages": []})


class EditRequest(RegenerateRequest):
    """A new version of a user message; by default answered by the session's provider and model."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"content": "What about Osaka?"}]})

    content: str
    images: list[MediaUrl] | None = None
    videos: list[MediaUrl] | None = None
    audios: list[MediaUrl] | None = None
    documents: list[MediaUrl] | None = None

    @classmethod
    def _own_fields(cls) -> set[str]:
        return {"content", "images", "videos", "audios", "documents"}

    def message(self) -> ChatMessageIn:
        return ChatMessageIn(
            role="user",
            content=self.content,
            images=self.images,
            videos=self.videos,
            audios=self.audios,
            documents=self.documents,
        )


class LeafUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"message_id": 12}]})

    message_id: RowId = Field(description="A message of the branch to show; the leaf is the newest below it")


class TreeNode(MessageOut):
    children: list[int] = Field(default_factory=list, description="Its replies or follow-ups, oldest first")


class TreeOut(BaseModel):
    session_id: int
    current_leaf_id: int | None
    messages: list[TreeNode] = Field(description="Every message of every branch, oldest first")
