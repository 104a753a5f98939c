from typing import ClassVar

from media import MediaSupport
from providers.openai_compat import FROM_USER, INPUT_AUDIO_FORMATS, OpenAICompatProvider


class OpenAIProvider(OpenAICompatProvider):
    id = "openai"
    name = "OpenAI"
    description = "OpenAI GPT models"
    key_setting = "openai_api_key"
    base_url_setting = "openai_base_url"
    think_tags = False
    # Audio goes as input_audio: the bytes themselves, WAV or MP3 only, never a URL
    # (https://platform.openai.com/docs/guides/audio); PDFs as `file` parts, bytes only
    # (https://platform.openai.com/docs/guides/pdf-files); images also as URLs.
    media = MediaSupport(
        kinds=frozenset({"image", "audio", "document"}),
        remote_kinds=frozenset({"image"}),
        mimes={"audio": frozenset(INPUT_AUDIO_FORMATS)},
        roles=FROM_USER,
    )
    fallback_models: ClassVar[tuple[str, ...]] = ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "o4-mini")
