from collections.abc import Iterable
from typing import Any, ClassVar

from providers.base import ReasoningDelta, StreamEvent, TextDelta
from providers.openai_compat import OpenAICompatProvider
from providers.think_tags import ThinkTagSplitter


class MistralProvider(OpenAICompatProvider):
    id = "mistral"
    name = "Mistral"
    description = "Mistral AI models"
    key_setting = "mistral_api_key"
    base_url_setting = "mistral_base_url"
    think_tags = False
    # Mistral rejects unknown fields with 422: no stream_options (usage comes with the finish
    # chunk anyway) and max_tokens instead of max_completion_tokens.
    stream_usage_option = False
    param_renames: ClassVar[dict[str, str]] = {"max_completion_tokens": "max_tokens"}
    extra_params = frozenset({"safe_prompt", "random_seed"})
    fallback_models: ClassVar[tuple[str, ...]] = (
        "mistral-large-latest",
        "mistral-small-latest",
        "magistral-medium-latest",
    )

    def text_events(self, content: Any, splitter: ThinkTagSplitter | None) -> Iterable[StreamEvent]:
        # Magistral streams content as a list of typed chunks: thinking blocks, then text.
        if not isinstance(content, list):
            return super().text_events(content, splitter)
        return [event for block in content for event in _block_events(block)]


def _block_events(block: Any) -> Iterable[StreamEvent]:
    if not isinstance(block, dict):
        return ()
    if block.get("type") == "thinking":
        thinking = block.get("thinking")
        # Documented as a list of text chunks; a bare string is taken as the text itself.
        parts = [{"text": thinking}] if isinstance(thinking, str) else thinking or ()
        return [ReasoningDelta(p["text"]) for p in parts if isinstance(p, dict) and p.get("text")]
    if block.get("type") == "text" and block.get("text"):
        return (TextDelta(block["text"]),)
    return ()
