"""Table test of `media.resolve_media`: which of a context's media reach a provider, read into bytes."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from media import NO_MEDIA, MediaRef, MediaSupport, resolve_media
from providers.base import Turn
from providers.doubao import GENERATION_MEDIA
from providers.gemini import GeminiProvider
from providers.openai import OpenAIProvider
from providers.openai_compat import OpenAICompatProvider
from tests import media_samples as samples

REMOTE = "https://media.example.invalid/cat.png"
PNG = samples.png()


@dataclass(frozen=True)
class Case:
    support: MediaSupport
    turns: tuple[Turn, ...]
    sent: list[list[tuple[str, str]]]  # per turn: (kind, url) of what the provider gets


CASES = {
    "chat completions takes only the user's media": Case(
        OpenAICompatProvider.media,
        (
            Turn("user", "look", images=("/uploads/a.png",)),
            Turn("assistant", "drawn", images=("/uploads/b.png",)),
        ),
        [[("image", "/uploads/a.png")], []],
    ),
    "gemini takes the assistant's media too": Case(
        GeminiProvider.media,
        (
            Turn("user", "look", images=("/uploads/a.png",)),
            Turn("assistant", "drawn", images=("/uploads/b.png",)),
        ),
        [[("image", "/uploads/a.png")], [("image", "/uploads/b.png")]],
    ),
    "history of a kind the provider does not take is left out": Case(
        OpenAIProvider.media,
        (Turn("user", "watch", images=(REMOTE,), videos=("/uploads/v.mp4",)),),
        [[("image", REMOTE)]],
    ),
    "a missing upload is left out of the history": Case(
        GeminiProvider.media,
        (Turn("user", "old", images=("/uploads/gone.png", "/uploads/a.png")),),
        [[("image", "/uploads/a.png")]],
    ),
    "a GIF is left out where the vendor takes none": Case(
        GeminiProvider.media, (Turn("user", "spin", images=("/uploads/spin.gif",)),), [[]]
    ),
    "a generation takes only the newest user message's images": Case(
        GENERATION_MEDIA,
        (
            Turn("user", "first", images=("/uploads/a.png",)),
            Turn("assistant", "done", images=("/uploads/b.png",)),
            Turn("user", "again", images=("/uploads/b.png",), videos=("/uploads/v.mp4",)),
            Turn("assistant", ""),
        ),
        [[], [], [("image", "/uploads/b.png")], []],
    ),
    "a model that takes no media gets none": Case(
        NO_MEDIA, (Turn("user", "draw", images=("/uploads/a.png",)),), [[]]
    ),
}


@pytest.fixture
def upload_dir(tmp_path: Path) -> Path:
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(PNG)
    (tmp_path / "spin.gif").write_bytes(samples.gif())
    (tmp_path / "v.mp4").write_bytes(samples.mp4())
    return tmp_path


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_what_reaches_the_provider(case: Case, upload_dir: Path) -> None:
    resolved = await resolve_media(case.turns, case.support, "Provider 'x' (X)", upload_dir)
    assert [[(ref.kind, ref.url) for ref in refs] for refs in resolved] == case.sent


async def test_uploads_are_read_and_remote_urls_left_for_the_vendor(upload_dir: Path) -> None:
    turn = Turn("user", "look", images=("/uploads/a.png", REMOTE))
    [refs] = await resolve_media((turn,), OpenAICompatProvider.media, "Provider 'x' (X)", upload_dir)
    assert refs == (
        MediaRef("image", "upload", "/uploads/a.png", "image/png", PNG),
        MediaRef("image", "remote", REMOTE, None),
    )
