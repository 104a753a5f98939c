"""What a query's text is searched for: its terms, and which of them are written without spaces."""

import re

# At most this many terms count; more add cost and hardly narrow a search of chats.
MAX_TERMS = 8
_SEPARATORS = re.compile(r"[\s\x00-\x1f\x7f]+")
# Scripts written without spaces between words (kana, CJK ideographs, Hangul): a term in them is
# found as a substring, since no tokenizer splits such text into the words a reader sees.
_UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def split_terms(query: str) -> list[str]:
    """The distinct terms of `query`, in order; punctuation alone is no term."""
    found: list[str] = []
    for term in _SEPARATORS.split(query):
        if any(char.isalnum() for char in term) and term.casefold() not in {t.casefold() for t in found}:
            found.append(term)
    return found[:MAX_TERMS]


def is_unspaced(term: str) -> bool:
    return _UNSPACED.search(term) is not None


def like_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, its wildcards escaped (for ESCAPE with a backslash)."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
