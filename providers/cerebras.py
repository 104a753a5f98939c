from typing import ClassVar

from providers.openai_compat import OpenAICompatProvider


class CerebrasProvider(OpenAICompatProvider):
    id = "cerebras"
    name = "Cerebras"
    description = "Fast inference on Cerebras wafer-scale engines"
    key_setting = "cerebras_api_key"
    base_url_setting = "cerebras_base_url"
    reasoning_fields = ("reasoning",)
    extra_params = frozenset({"reasoning_effort", "disable_reasoning"})
    fallback_models: ClassVar[tuple[str, ...]] = ("llama-3.3-70b", "gpt-oss-120b", "qwen-3-32b")
