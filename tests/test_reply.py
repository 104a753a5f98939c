"""The reply accumulator: a stop's cut lands exactly where the reply stood after any event."""

import pytest

from generation.reply import Reply, advanced
from providers.base import (
    Finish,
    MediaOutput,
    ReasoningDelta,
    SearchResults,
    StreamEvent,
    TextDelta,
    ThoughtSignature,
    Usage,
)

SOURCE = {"title": "t", "url": "https://example.org", "content": "c"}
EVENTS: list[StreamEvent] = [
    ReasoningDelta("think "),
    ThoughtSignature("sig"),
    TextDelta("Hello"),
    SearchResults((SOURCE, SOURCE)),
    MediaOutput("images", ("/uploads/a.png", "/uploads/b.png")),
    TextDelta(" world"),
    MediaOutput("videos", ("/uploads/c.mp4",)),
    ReasoningDelta("more"),
    Usage({"total_tokens": 3}),
    Finish("stop"),
]


def columns_after(start: Reply, events: list[StreamEvent]) -> dict[str, object]:
    for event in events:
        start.apply(event)
    return {
        k: v for k, v in start.columns().items() if k not in ("thought_signatures", "usage", "finish_reason")
    }


@pytest.mark.parametrize("prefix", ["", "stored text "])
@pytest.mark.parametrize("sent", range(len(EVENTS) + 1))
def test_a_cut_after_n_sent_events_equals_the_reply_of_those_events_alone(prefix: str, sent: int) -> None:
    whole = Reply(text=[prefix] if prefix else [])
    start = whole.mark()
    rendered = [wired for event in EVENTS if (wired := whole.apply(event)) is not None]
    originals = [e for e in EVENTS if Reply().apply(e) is not None]
    whole.cut(advanced(start, rendered[:sent]))
    cut = {
        k: v for k, v in whole.columns().items() if k not in ("thought_signatures", "usage", "finish_reason")
    }
    assert cut == columns_after(Reply(text=[prefix] if prefix else []), originals[:sent])
