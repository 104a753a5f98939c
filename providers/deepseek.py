from typing import Any, ClassVar

from providers.openai_compat import OpenAICompatProvider


class DeepSeekProvider(OpenAICompatProvider):
    id = "deepseek"
    name = "DeepSeek"
    description = "DeepSeek chat and reasoning models"
    key_setting = "deepseek_api_key"
    base_url_setting = "deepseek_base_url"
    reasoning_fields = ("reasoning_content",)
    extra_params = frozenset({"thinking", "reasoning_effort"})
    fallback_models: ClassVar[tuple[str, ...]] = ("deepseek-chat", "deepseek-reasoner")

    def wire_params(self, params: dict[str, Any]) -> dict[str, Any]:
        # https://api-docs.deepseek.com/guides/thinking_mode: the switch is an object, not a bool.
        # It knows only enabled/disabled; "auto" leaves DeepSeek's own default (thinking on), and
        # an object ({"type": "disabled"}) is sent as it is.
        if params.get("thinking") == "auto":
            del params["thinking"]
        elif isinstance(params.get("thinking"), bool):
            params["thinking"] = {"type": "enabled" if params["thinking"] else "disabled"}
        return super().wire_params(params)
