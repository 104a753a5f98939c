"""The part of a matching text shown with a hit, and where the terms are in it."""

import re
from dataclasses import dataclass

# Characters of context shown on each side of the first match.
CONTEXT = 60
ELLIPSIS = "…"


@dataclass(frozen=True)
class Snippet:
    text: str
    # [start, end) character offsets of each term found in `text`
    highlights: list[tuple[int, int]]


def _pattern(terms: list[str]) -> re.Pattern[str]:
    # Longest first, so that a term containing another is marked whole. IGNORECASE folds one
    # character at a time, so offsets in the text stay offsets in the original.
    alternatives = sorted(terms, key=len, reverse=True)
    return re.compile("|".join(re.escape(term) for term in alternatives), re.IGNORECASE)


def make_snippet(text: str, terms: list[str]) -> Snippet:
    """`text` cut to CONTEXT characters around its first match (the start of it if none matches)."""
    pattern = _pattern(terms)
    first = pattern.search(text)
    center = first.start() if first else 0
    start = max(0, center - CONTEXT)
    end = min(len(text), center + CONTEXT + (first.end() - first.start() if first else 0))
    if not first:
        end = min(len(text), 2 * CONTEXT)
    window = text[start:end]
    prefix = ELLIPSIS if start > 0 else ""
    suffix = ELLIPSIS if end < len(text) else ""
    shift = len(prefix)
    marks = [(m.start() + shift, m.end() + shift) for m in pattern.finditer(window)]
    return Snippet(f"{prefix}{window}{suffix}", marks)
