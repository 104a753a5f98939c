"""Table test of the inline `<think>` splitter, tags split across chunks included."""

import pytest

from providers.base import ReasoningDelta, TextDelta
from providers.think_tags import ThinkTagSplitter

Piece = tuple[str, str]  # ("text" | "reasoning", content)


def split(chunks: list[str]) -> list[Piece]:
    """Feed the chunks, flush, and merge neighbouring deltas of the same kind."""
    splitter = ThinkTagSplitter()
    deltas = [delta for c in chunks for delta in splitter.feed(c)] + splitter.flush()
    assert all(delta.text for delta in deltas), "no empty deltas"
    merged: list[Piece] = []
    for delta in deltas:
        kind = "reasoning" if isinstance(delta, ReasoningDelta) else "text"
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + delta.text)
        else:
            merged.append((kind, delta.text))
    return merged


CASES: dict[str, tuple[list[str], list[Piece]]] = {
    "no tags": (["Hello", " world"], [("text", "Hello world")]),
    "whole block in one chunk": (["<think>why</think>because"], [("reasoning", "why"), ("text", "because")]),
    "open tag split": (["<thi", "nk>why</think>ok"], [("reasoning", "why"), ("text", "ok")]),
    "close tag split": (["<think>why</th", "ink>ok"], [("reasoning", "why"), ("text", "ok")]),
    "close tag split three ways": (["<think>a<", "/thi", "nk>b"], [("reasoning", "a"), ("text", "b")]),
    "every character a chunk": (list("<think>ab</think>cd"), [("reasoning", "ab"), ("text", "cd")]),
    "text before the block": (
        ["Hi <think>x</think> there"],
        [("text", "Hi "), ("reasoning", "x"), ("text", " there")],
    ),
    "a < that is no tag": (["a < b", " <b>bold</b>"], [("text", "a < b <b>bold</b>")]),
    "a tag prefix that turns out not to be one": (["x <thi", "s is fine"], [("text", "x <this is fine")]),
    "tag prefix left at the end of the stream": (["answer <th"], [("text", "answer <th")]),
    "block never closed": (["<think>still thinking"], [("reasoning", "still thinking")]),
    "close tag prefix left inside an open block": (["<think>abc</th"], [("reasoning", "abc</th")]),
    "two blocks": (
        ["<think>a</think>b<think>c</think>d"],
        [("reasoning", "a"), ("text", "b"), ("reasoning", "c"), ("text", "d")],
    ),
    "empty block": (["<think></think>answer"], [("text", "answer")]),
    "a < right before the tag": (["<<think>x</think>"], [("text", "<"), ("reasoning", "x")]),
    "empty chunks": (["", "<think>", "", "r", "</think>", "", "t"], [("reasoning", "r"), ("text", "t")]),
    "multibyte text inside": (["<think>想", "一想</think>好"], [("reasoning", "想一想"), ("text", "好")]),
}


@pytest.mark.parametrize(("chunks", "expected"), list(CASES.values()), ids=list(CASES))
def test_think_tags_are_split_into_reasoning_and_text(chunks: list[str], expected: list[Piece]) -> None:
    assert split(chunks) == expected


def test_a_chunk_without_a_tag_passes_through_as_one_delta() -> None:
    splitter = ThinkTagSplitter()
    assert splitter.feed("plain text") == [TextDelta("plain text")]
    assert splitter.feed("") == []
    assert splitter.flush() == []


def test_a_possible_tag_is_held_back_until_the_next_chunk_decides() -> None:
    splitter = ThinkTagSplitter()
    assert splitter.feed("So <thi") == [TextDelta("So ")]
    assert splitter.feed("nk>hm") == [ReasoningDelta("hm")]
    assert splitter.feed("</think") == []
    assert splitter.feed(">done") == [TextDelta("done")]
    assert splitter.flush() == []
