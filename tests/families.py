"""Wire families a test can run over: the same scripted replies in OpenAI SSE, Ollama NDJSON or
Anthropic's Messages SSE.

A lifecycle test (resume, stop, disconnect, watchdogs) takes the `family` fixture and is run over
several with `@over_families`; unparametrized, `family` is DeepSeek on the OpenAI-compatible fake.
"""

from dataclasses import dataclass, field
from typing import Any

import pytest

from provider_registry import PROVIDERS
from tests.fakes import anthropic_vendor, ollama_vendor, openai_vendor
from tests.fakes.anthropic_vendor import FakeAnthropicVendor
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
FAMILY_MODELS = {**MODELS, "ollama": ollama_vendor.MODEL, "anthropic": "claude-sonnet-4-5"}
# Anthropic's stop_reason for each finish reason a test scripts.
ANTHROPIC_STOPS = {"stop": "end_turn", "length": "max_tokens"}


@dataclass
class Family:
    """A provider, the fake vendor behind it, and its replies scripted in that vendor's wire format.

    Attributes:
        settings: What the service's settings need to reach the fake (its base URL).
    """

    provider: str
    vendor: FakeOpenAIVendor | FakeOllamaVendor | FakeAnthropicVendor
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
        elif isinstance(self.vendor, FakeAnthropicVendor):
            stream = anthropic_vendor.text_stream(*pieces, stop_reason=ANTHROPIC_STOPS[finish])
            self.vendor.queue(anthropic_vendor.Reply(stream, delay=delay, stall=stall, wait=wait))
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
        elif isinstance(self.vendor, FakeAnthropicVendor):
            # The text block opens and its deltas come; nothing closes it or the message.
            opened = anthropic_vendor.text_block(0, *pieces)[:-1]
            self.vendor.queue(
                anthropic_vendor.Reply([anthropic_vendor.message_start(), *opened], stall=stall)
            )
        else:
            events = [openai_vendor.sse(openai_vendor.chunk(piece)) for piece in pieces]
            self.vendor.queue(openai_vendor.Reply(events, stall=stall))

    def env(self) -> dict[str, str]:
        """The environment that points a service process at this family's fake vendor."""
        vendor_class = PROVIDERS[self.provider]
        url: str = self.vendor.url  # type: ignore[union-attr]
        env = {str(vendor_class.base_url_setting).upper(): url}
        if vendor_class.key_setting:
            env[vendor_class.key_setting.upper()] = "test-key"
        return env

    def last_context(self) -> list[dict[str, str]]:
        """The last chat request's context as plain role/text pairs, system prompt first, in any wire."""
        body = self.vendor.requests[-1].body
        system = body.get("system") if isinstance(self.vendor, FakeAnthropicVendor) else None
        context = [{"role": "system", "content": _text_of(system)}] if system else []
        return context + [{"role": m["role"], "content": _text_of(m["content"])} for m in body["messages"]]

    def failure(self, status: int, message: str) -> None:
        """Queue an HTTP error answer whose body carries `message` as the vendor words it."""
        if isinstance(self.vendor, FakeOllamaVendor):
            self.vendor.queue(ollama_vendor.Reply(status=status, error=message))
        elif isinstance(self.vendor, FakeAnthropicVendor):
            body = anthropic_vendor.error_body(status, message)
            self.vendor.queue(anthropic_vendor.Reply(status=status, error=body))
        else:
            self.vendor.queue(openai_vendor.Reply(status=status, error={"error": {"message": message}}))


def _text_of(content: str | list[dict[str, Any]]) -> str:
    # Anthropic's blocks (and OpenAI's content parts) carry the text in their `text` parts.
    if isinstance(content, str):
        return content
    return "".join(part["text"] for part in content if part.get("type") == "text")


# Runs a test once per family; its `family` fixture is then the one of that run.
over_families = pytest.mark.parametrize("family", ["deepseek", "ollama", "anthropic"], indirect=True)
