from typing import ClassVar

from providers.openai_compat import INPUT_AUDIO_FORMATS, OpenAICompatProvider


class OpenAIProvider(OpenAICompatProvider):
    id = "openai"
    name = "OpenAI"
    description = "OpenAI GPT models"
    key_setting = "openai_api_key"
    base_url_setting = "openai_base_url"
    think_tags = False
    # Audio goes as input_audio: the bytes themselves, WAV or MP3 only, never a URL
    # (https://platform.openai.com/docs/guides/audio); images also as URLs.
    media_kinds = frozenset({"image", "audio"})
    media_mimes = {"audio": frozenset(INPUT_AUDIO_FORMATS)}
    fallback_models: ClassVar[tuple[str, ...]] = ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "o4-mini")
