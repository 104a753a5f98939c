from typing import ClassVar

from providers.openai_compat import OpenAICompatProvider


class OpenAIProvider(OpenAICompatProvider):
    id = "openai"
    name = "OpenAI"
    description = "OpenAI GPT models"
    key_setting = "openai_api_key"
    base_url_setting = "openai_base_url"
    think_tags = False
    fallback_models: ClassVar[tuple[str, ...]] = ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "o4-mini")
