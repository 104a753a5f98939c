from typing import ClassVar

from providers.openai_compat import OpenAICompatProvider


class GrokProvider(OpenAICompatProvider):
    id = "grok"
    name = "Grok (xAI)"
    description = "xAI Grok models"
    key_setting = "grok_api_key"
    base_url_setting = "grok_base_url"
    reasoning_fields = ("reasoning_content",)
    think_tags = False
    fallback_models: ClassVar[tuple[str, ...]] = ("grok-4", "grok-3", "grok-3-mini")
