"""How well a text matches the terms: BM25's term-frequency part, computed on the candidates.

The database finds the most recent matches (an index walk that stops early) and this ranks them.
Letting it rank every match instead costs in proportion to their number: FTS5's bm25 counts all
the rows holding a phrase (a trigram term of four characters or more is one), and PostgreSQL's
ts_rank rebuilds each row's tsvector; on 200,000 messages a common word took 280 ms that way.
Every candidate holds every term, so the inverse document frequency BM25 would add weighs terms
against each other only: it is left out.
"""

import re

# BM25's usual constants: how fast repeats stop counting, and how much length is discounted.
K1 = 1.2
B = 0.75


def relevance(text: str, terms: list[str], average_length: float) -> float:
    length = max(len(text), 1)
    norm = K1 * (1 - B + B * length / max(average_length, 1.0))
    score = 0.0
    for term in terms:
        frequency = len(re.findall(re.escape(term), text, re.IGNORECASE))
        score += frequency * (K1 + 1) / (frequency + norm)
    return score
