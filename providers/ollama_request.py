"""Ollama requests: a turn as the `/api/chat` body, our parameters under Ollama's names.

Wire reference: ../shared/wire/ollama.md and https://github.com/ollama/ollama/blob/main/docs/api.md
"""

from typing import Any

from providers.base import ProviderRequest, Turn

# Request fields sent in `options`, under the same names (docs/modelfile.md, "Valid Parameters").
OPTIONS: tuple[str, ...] = ("num_ctx", "num_predict", "temperature", "top_k", "top_p", "min_p", "seed")
OPTIONS += ("repeat_penalty", "stop")
# Request fields sent beside `model` and `messages`.
TOP_LEVEL = ("think", "keep_alive")


def chat_body(request: ProviderRequest) -> dict[str, Any]:
    """The `/api/chat` request: our parameters under Ollama's names, sampling ones in `options`."""
    params = request.params
    options = {name: params[name] for name in OPTIONS if name in params}
    if "max_tokens" in params:
        options.setdefault("num_predict", params["max_tokens"])
    if isinstance(options.get("stop"), str):
        options["stop"] = [options["stop"]]
    messages = [message(turn) for turn in request.messages]
    if request.system_prompt:
        messages.insert(0, {"role": "system", "content": request.system_prompt})
    body = {"model": request.model, "messages": messages, "stream": True}
    body.update({name: params[name] for name in TOP_LEVEL if name in params})
    if options:
        body["options"] = options
    return body


def message(turn: Turn) -> dict[str, Any]:
    payload: dict[str, Any] = {"role": turn.role, "content": turn.content}
    if turn.media:  # images: the only kind this provider takes
        payload["images"] = [ref.base64_data() for ref in turn.media]
    return payload
