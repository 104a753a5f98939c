"""Ollama through its native API: `/api/chat` streamed as NDJSON, models from `/api/tags`.

The request is built by `ollama_request`, the reply read by `ollama_response`. Sent over the
service's one httpx2 stack (vendor_http_client), not the `ollama` package, which is built on httpx.
Ollama takes no key: it is configured while a server answers `GET /api/version` at OLLAMA_BASE_URL
(the registry asks at start, and again when that answer does not hold).
Wire reference: ../shared/wire/ollama.md and https://github.com/ollama/ollama/blob/main/docs/api.md
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import ClassVar

import httpx2
import orjson

from media import MediaSupport
from providers.base import ModelInfo, PooledProvider, ProviderRequest, ProviderSettings, StreamEvent
from providers.errors import (
    ProviderError,
    ProviderModelMissing,
    ProviderUnavailable,
    error_for_status,
    map_httpx2_errors,
    vendor_message,
)
from providers.ndjson import ndjson_lines
from providers.ollama_request import chat_body
from providers.ollama_response import chunk_events, model_info
from providers.sse import whole_body
from providers.think_tags import ThinkTagSplitter

logger = logging.getLogger(__name__)

# Seconds a server has to say it is there; nothing waits for the first question but what needs it.
PROBE_SECONDS = 2.0
# An error body is a short JSON object: no more of it is read.
MAX_ERROR_BYTES = 64 * 1024
JSON = {"Content-Type": "application/json"}


class OllamaProvider(PooledProvider[httpx2.AsyncClient]):
    id = "ollama"
    name = "Ollama"
    description = "Models on an Ollama server (native API, no key): thinking, images"
    key_setting = None
    base_url_setting = "ollama_base_url"
    fallback_models: ClassVar[tuple[str, ...]] = ("llama3.1:8b-instruct-q8_0", "qwen3:8b", "llava:7b")
    common_params = frozenset({"temperature", "top_p", "max_tokens", "stop"})
    extra_params = frozenset(
        {"think", "keep_alive", "num_ctx", "num_predict", "top_k", "min_p", "repeat_penalty", "seed"}
    )
    # Images as plain base64 on the message; the server fetches no URL (wire/ollama.md, section 2).
    media = MediaSupport(kinds=frozenset({"image"}), remote_kinds=frozenset(), roles=frozenset({"user"}))

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self._version: str | None = None  # the server's, as it last answered; None: it did not

    @property
    def configured(self) -> bool:
        return self._version is not None

    def unconfigured_remedy(self) -> str:
        return (
            f"no Ollama server answered at {self.settings.base_url}/api/version: start one (`ollama serve`) "
            "or set the OLLAMA_BASE_URL environment variable to where one runs"
        )

    def build_client(self, http: httpx2.AsyncClient) -> httpx2.AsyncClient:
        # Paths are sent below the base URL's own (an Ollama behind a proxy's prefix).
        http.base_url = httpx2.URL(self.settings.base_url or "")
        return http

    def prepare(self) -> None:
        self.client  # noqa: B018 - the question at start sends through it, configured or not

    async def probe(self) -> None:
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                response = await self.client.get("/api/version", timeout=PROBE_SECONDS)
            answer = orjson.loads(response.content) if response.status_code == 200 else None
        except (httpx2.HTTPError, httpx2.InvalidURL, TimeoutError, orjson.JSONDecodeError):
            answer = None
        version = answer.get("version") if isinstance(answer, dict) else None
        version = version if isinstance(version, str) else None
        if (version is None) != (self._version is None):
            state = f"answers (version {version})" if version else "does not answer"
            logger.info("Ollama at %s %s", self.settings.base_url, state)
        self._version = version

    async def stream(self, request: ProviderRequest) -> AsyncIterator[StreamEvent]:
        # <think> tags in the content: thinking models on servers that predate `think`.
        splitter = ThinkTagSplitter()
        done = False
        # No read timeout: a model loads before the first line. The watchdogs bound the reply.
        timeout = httpx2.Timeout(self.settings.timeout, read=None)
        body = orjson.dumps(chat_body(request))
        with map_httpx2_errors(self.id):
            # Leaving this block (end, error, or a stop cancelling us) closes the upstream connection.
            async with self.client.stream(
                "POST", "/api/chat", content=body, headers=JSON, timeout=timeout
            ) as http:
                if http.status_code != 200:
                    raise await self._refusal(http, request.model)
                async for line in ndjson_lines(http.aiter_bytes()):
                    chunk = orjson.loads(line)
                    for event in chunk_events(chunk, self.id, splitter):
                        yield event
                    done = done or chunk.get("done") is True
        if not done:
            raise ProviderUnavailable(self.id, "the reply ended before its last line (`done`)")

    async def _refusal(self, http: httpx2.Response, model: str | None = None) -> ProviderError:
        """The error a non-200 answer means; a chat's 404 is its model not pulled."""
        text = await whole_body(http.aiter_bytes(), MAX_ERROR_BYTES)
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError:
            body = None
        message = vendor_message(body, text.decode(errors="replace")[:300] or f"HTTP {http.status_code}")
        if http.status_code == 404 and model is not None:
            return ProviderModelMissing(self.id, f"{message} (run `ollama pull {model}`)")
        return error_for_status(self.id, http.status_code, message)

    async def list_models(self) -> list[ModelInfo]:
        with map_httpx2_errors(self.id):
            http = await self.client.get("/api/tags", timeout=self.settings.timeout)
            if http.status_code != 200:
                raise await self._refusal(http)
            listing = orjson.loads(http.content)
        models = listing.get("models") if isinstance(listing, dict) else None
        if not isinstance(models, list):
            raise ProviderUnavailable(self.id, "unreadable model list from the vendor: no `models` list")
        return [model_info(m) for m in models if isinstance(m, dict) and isinstance(m.get("name"), str)]
