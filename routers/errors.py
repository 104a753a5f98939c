"""The error answers of the routes, declared once, for the `responses=` of their decorators.

Each family is the statuses one cause can answer with; a route lists the families it can meet
(`responses(SESSION_NOT_FOUND, UNREADABLE_BODY)`), so its OpenAPI operation names every status
it really returns. Every error body is `{"detail": "<what went wrong>", ...}`, with the extra keys
the handlers in `app_factory` add (`provider`, `status`, `reference`). A request that fails
validation is a 422 whose `detail` is the list of field errors.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict

Responses = dict[int | str, dict[str, Any]]


class ErrorOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class InvalidOut(BaseModel):
    """A 422: the fields that failed validation, or (as text) media the provider does not take."""

    detail: list[FieldError] | str


def _error(description: str, model: type[BaseModel] = ErrorOut, **extra: Any) -> dict[str, Any]:
    return {"model": model, "description": description, **extra}


error_answer = _error  # for the routers that declare error families of their own


def responses(*families: Responses) -> Responses:
    """The families merged for one route; a status in several keeps each family's description."""
    merged: Responses = {}
    for family in families:
        for status, answer in family.items():
            if status in merged:
                described = f"{merged[status]['description']}. {answer['description']}"
                answer = {**answer, "description": described}
            merged[status] = answer
    return dict(sorted(merged.items(), key=lambda item: str(item[0])))


UNREADABLE_BODY: Responses = {400: _error("The body could not be parsed (not JSON, or a broken form)")}
SESSION_NOT_FOUND: Responses = {404: _error("No session with this id")}
MESSAGE_NOT_FOUND: Responses = {404: _error("No such message (or no such assistant reply)")}
PROVIDER_NOT_FOUND: Responses = {404: _error("No provider with this id; the known ids are listed")}
UNKNOWN_PROVIDER: Responses = {400: _error("An unknown provider id; the known ids are listed")}
UNUSABLE_PROVIDER: Responses = {
    400: _error("An unknown provider id, or one whose API key is not set (the variable is named)")
}
UNUSABLE_MEDIA: Responses = {
    400: _error("A media reference that is not an existing upload, an https:// URL or a base64 data: URL"),
    422: _error("Invalid fields, or media the chosen provider does not take", InvalidOut),
}
NOT_A_USER_MESSAGE: Responses = {
    422: _error(
        "Invalid fields, or a message that is not a user message (a reply is regenerated)", InvalidOut
    )
}
NOT_CONTINUABLE: Responses = {409: _error("The reply is complete or still generating")}
BRANCH_CONFLICT: Responses = {
    409: _error("Another reply of the session is generating; `running_message_id` names it")
}
NOT_GENERATING: Responses = {409: _error("The message is not generating; `status` says what it is")}
DRAINING: Responses = {
    503: _error(
        "The service is shutting down and starts no new reply",
        headers={"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    )
}
# Before a streamed reply's first byte, a vendor failure is the HTTP answer (providers/errors.py);
# after it, an error event.
VENDOR_FAILED: Responses = {
    400: _error("The vendor refused the request (an unknown model, say) or blocked its content"),
    404: _error("The vendor does not have the model: an Ollama model not pulled (`ollama pull <model>`)"),
    429: _error("The vendor's rate limit or quota"),
    502: _error("The vendor failed, was unreachable, broke the stream or rejected the API key"),
    504: _error("The vendor did not answer in time"),
}
CHAT_LIMITED: Responses = {
    429: _error("Over the client's RATE_LIMIT_PER_MINUTE or MAX_CONCURRENT_GENERATIONS; see Retry-After")
}
INVALID_CHAT_ID: Responses = {400: _error("A chat id that breaks a rule of chat ids; the rule is named")}
CHAT_NOT_FOUND: Responses = {404: _error("No chat with this id")}
UPLOAD_REFUSED: Responses = {
    413: _error("Over MAX_IMAGE_MB / MAX_VIDEO_MB / MAX_AUDIO_MB, or over MAX_IMAGE_PIXELS"),
    415: _error("Not an image, video or audio file we take (decided from its bytes), or markup"),
}
