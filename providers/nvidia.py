from typing import Any, ClassVar

from providers.openai_compat import OpenAICompatProvider


class NvidiaProvider(OpenAICompatProvider):
    id = "nvidia"
    name = "Nvidia NIM"
    description = "NVIDIA NIM hosted models"
    key_setting = "nvidia_api_key"
    base_url_setting = "nvidia_base_url"
    reasoning_fields = ("reasoning_content",)
    extra_params = frozenset({"thinking", "reasoning_effort"})
    fallback_models: ClassVar[tuple[str, ...]] = (
        "meta/llama-3.1-8b-instruct",
        "nvidia/llama-3.3-nemotron-super-49b-v1",
        "deepseek-ai/deepseek-r1",
    )

    def wire_params(self, params: dict[str, Any]) -> dict[str, Any]:
        # NIM reasoning models switch thinking through the chat template (model cards on
        # build.nvidia.com): {"chat_template_kwargs": {"enable_thinking": bool}}.
        if "thinking" in params:
            value = params.pop("thinking")
            enable = value.get("type") != "disabled" if isinstance(value, dict) else bool(value)
            params["chat_template_kwargs"] = {"enable_thinking": enable}
        return super().wire_params(params)
