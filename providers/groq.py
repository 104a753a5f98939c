from typing import ClassVar

from providers.openai_compat import OpenAICompatProvider


class GroqProvider(OpenAICompatProvider):
    id = "groq"
    name = "Groq"
    description = "Fast inference on Groq LPUs"
    key_setting = "groq_api_key"
    base_url_setting = "groq_base_url"
    # reasoning_format "parsed" puts thinking in delta.reasoning; "raw" leaves <think> tags inline.
    reasoning_fields = ("reasoning",)
    extra_params = frozenset({"reasoning_format", "include_reasoning", "reasoning_effort"})
    fallback_models: ClassVar[tuple[str, ...]] = (
        "llama-3.3-70b-versatile",
        "llama-3.1-8b-instant",
        "qwen/qwen3-32b",
    )
