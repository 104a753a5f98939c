"""Wire families a test can run over: the same scripted replies in OpenAI SSE or Ollama NDJSON.

A lifecycle test (resume, stop, disconnect, watchdogs) takes the `family` fixture and is run over
several with `@over_families`; unparametrized, `family` is DeepSeek on the OpenAI-compatible fake.
"""

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.fakes import ollama_vendor, openai_vendor
from tests.fakes.ollama_vendor import FakeOllamaVendor
from tests.fakes.openai_vendor import FakeOpenAIVendor

# One model id per OpenAI-compatible vendor, as a client would pick it.
MODELS = {
    "openai": "gpt-4.1-mini",
    "deepseek": "deepseek-chat",
    "siliconflow": "Qwen/Qwen3-8B",
    "groq": "llama-3.3-70b-versatile",
    "mistral": "mistral-small-latest",
    "grok": "grok-3-mini",
    "openrouter": "openai/gpt-4o-mini",
    "cerebras": "llama-3.3-70b",
    "nvidia": "meta/llama-3.1-8b-instruct",
}
# And for every provider a family runs over.
FAMILY_MODELS = {**MODELS, "ollama": ollama_vendor.MODEL}


@dataclass
class Family:
    """A provider, the fake vendor behind it, and its replies scripted in that vendor's wire format.

    Attributes:
        settings: What the service's settings need to reach the fake (its base URL).
    """

    provider: str
    vendor: FakeOpenAIVendor | FakeOllamaVendor
    settings: dict[str, Any] = field(default_factory=dict)

    def ask(self, content: str = "hi", **fields: Any) -> dict[str, Any]:
        """A chat request as the web frontend sends it: one new user message plus flat settings."""
        body = {"provider": self.provider, "model": FAMILY_MODELS[self.provider]}
        return {**body, "messages": [{"role": "user", "content": content}], **fields}

    def text(
        self, *pieces: str, delay: float = 0.0, stall: float = 0.0, wait: float = 0.0, finish: str = "stop"
    ) -> None:
        """Queue a whole reply: `wait` s, one chunk per piece `delay` s apart, its end, then `stall` s."""
        if isinstance(self.vendor, FakeOllamaVendor):
            lines = ollama_vendor.text_lines(*pieces, done_reason=finish)
            self.vendor.queue(ollama_vendor.Reply(lines, delay=delay, stall=stall, wait=wait))
        else:
            events = openai_vendor.text_stream(*pieces, finish=finish)
            self.vendor.queue(openai_vendor.Reply(events, delay=delay, stall=stall, wait=wait))

    def paced(self, count: int, delay: float = 0.05, *, finish: str = "stop") -> None:
        """Queue `count` chunks `w0 `, `w1 `, ... `delay` s apart, the first `delay` s after the request.

        As a model's first token comes once the prompt is read: the stream's opening events reach
        its client before any text, whichever vendor answers faster.
        """
        self.text(*(f"w{i} " for i in range(count)), delay=delay, wait=delay, finish=finish)

    def unfinished(self, *pieces: str, stall: float) -> None:
        """Queue chunks that stop coming: no end, only `stall` seconds of silence after them."""
        if isinstance(self.vendor, FakeOllamaVendor):
            lines = [ollama_vendor.line(ollama_vendor.chunk(piece)) for piece in pieces]
            self.vendor.queue(ollama_vendor.Reply(lines, stall=stall))
        else:
            events = [openai_vendor.sse(openai_vendor.chunk(piece)) for piece in pieces]
            self.vendor.queue(openai_vendor.Reply(events, stall=stall))

    def failure(self, status: int, message: str) -> None:
        """Queue an HTTP error answer whose body carries `message` as the vendor words it."""
        if isinstance(self.vendor, FakeOllamaVendor):
            self.vendor.queue(ollama_vendor.Reply(status=status, error=message))
        else:
            self.vendor.queue(openai_vendor.Reply(status=status, error={"error": {"message": message}}))


# Runs a test once per family; its `family` fixture is then the one of that run.
over_families = pytest.mark.parametrize("family", ["deepseek", "ollama"], indirect=True)
