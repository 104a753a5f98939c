from typing import ClassVar

from providers.openai_compat import OpenAICompatProvider


class OpenRouterProvider(OpenAICompatProvider):
    id = "openrouter"
    name = "OpenRouter"
    description = "One API routing to hundreds of models"
    key_setting = "openrouter_api_key"
    base_url_setting = "openrouter_base_url"
    extra_settings = ("openrouter_http_referer", "openrouter_x_title")
    reasoning_fields = ("reasoning",)
    extra_params = frozenset(
        {
            "transforms",
            "models",
            "route",
            "repetition_penalty",
            "top_a",
            "logprobs",
            "top_logprobs",
            "response_format",
            "structured_outputs",
            "parallel_tool_calls",
            "reasoning",
            "modalities",
            "image_config",
            "plugins",
            "web_search_options",
        }
    )
    fallback_models: ClassVar[tuple[str, ...]] = (
        "openai/gpt-4o-mini",
        "anthropic/claude-sonnet-4",
        "google/gemini-2.5-flash",
        "deepseek/deepseek-r1",
    )

    def extra_headers(self) -> dict[str, str]:
        # https://openrouter.ai/docs/api-reference/overview: optional app attribution headers.
        extras = self.settings.extras
        headers = {"HTTP-Referer": extras["openrouter_http_referer"], "X-Title": extras["openrouter_x_title"]}
        return {name: value for name, value in headers.items() if value}
