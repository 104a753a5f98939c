from typing import ClassVar

from media import MediaSupport
from providers.openai_compat import FROM_USER, OpenAICompatProvider


class SiliconFlowProvider(OpenAICompatProvider):
    id = "siliconflow"
    name = "SiliconFlow"
    description = "SiliconFlow hosted open models (Qwen, DeepSeek, GLM, ...)"
    key_setting = "siliconflow_api_key"
    base_url_setting = "siliconflow_base_url"
    reasoning_fields = ("reasoning_content",)
    extra_params = frozenset({"enable_thinking", "thinking_budget", "min_p", "top_k"})
    media_params = frozenset({"image_detail", "fps", "video_detail", "max_frames"})
    # Vision and omni models take image_url, video_url and audio_url parts, each a URL or a data URL
    # (https://docs.siliconflow.cn/cn/userguide/capabilities/multimodal-vision).
    media = MediaSupport(roles=FROM_USER)
    audio_part_type = "audio_url"
    fallback_models: ClassVar[tuple[str, ...]] = (
        "Qwen/Qwen3-8B",
        "deepseek-ai/DeepSeek-V3",
        "deepseek-ai/DeepSeek-R1",
    )
