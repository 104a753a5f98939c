"""The search itself: one query per dialect and per kind of hit (message text, session title).

Every term must be found. SQLite (FTS5, trigram tokenizer) finds a term as a substring anywhere;
a term shorter than three characters has no trigram, so it filters by LIKE over the FTS table
instead. PostgreSQL finds a term as the start of a word (`to_tsvector('simple')` and a prefix
tsquery) that also holds it as written, and a term in a script written without spaces (CJK) as a
substring alone, through the pg_trgm index. Either way the CANDIDATES most recent matches come
back, and search/ranking.py orders them.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Integer, String, Text, text
from sqlalchemy.orm import Session

from database import UTCDateTime
from search.ranking import relevance
from search.schema import MESSAGES_FTS, TITLES_FTS
from search.snippet import make_snippet
from search.terms import is_unspaced, like_pattern, split_terms

# Terms shorter than this have no trigram in SQLite's index.
TRIGRAM = 3
# The most recent matches of each kind that are ranked; older ones are found by more terms.
CANDIDATES = 300


class SearchHit(BaseModel):
    """One matching message, or a session's title (without `message_id` and `role`)."""

    session_id: int
    session_title: str
    message_id: int | None = None
    role: str | None = None
    snippet: str = Field(description="The text around the first match")
    highlights: list[tuple[int, int]] = Field(description="[start, end) of each match in `snippet`")
    score: float = Field(description="Relevance: higher is better, comparable within one answer only")
    created_at: datetime = Field(
        description="When the message was written (a title: the session's last activity)"
    )


@dataclass(frozen=True)
class Owner:
    """Whose sessions a search covers; None (no user) covers every session."""

    user_id: int | None = None


def owner_scope(owner: Owner) -> tuple[str, dict[str, Any]]:
    """The condition on sessions `s` that keeps one owner's: " AND ..." SQL and its parameters.

    The one place a search is scoped: a user finds their own sessions only.
    """
    if owner.user_id is None:
        return "", {}
    return " AND s.user_id = :owner_id", {"owner_id": owner.user_id}


def search(db: Session, query: str, *, limit: int, owner: Owner | None = None) -> list[SearchHit]:
    """The `limit` best hits for `query` among titles and message text, best first."""
    terms = split_terms(query)
    if not terms:
        return []
    scope, scope_params = owner_scope(owner or Owner())
    build = _sqlite if db.get_bind().dialect.name == "sqlite" else _postgresql
    rows: list[Any] = []
    for kind in ("messages", "titles"):
        statement = text(build(kind, terms, scope)).columns(
            message_id=Integer,
            session_id=Integer,
            role=String,
            body=Text,
            session_title=String,
            created_at=UTCDateTime,
        )
        params = {**_parameters(db, terms), **scope_params, "candidates": CANDIDATES}
        rows += db.execute(statement, params).all()
    return _best(rows, terms, limit)


def _best(rows: list[Any], terms: list[str], limit: int) -> list[SearchHit]:
    average = sum(len(row.body) for row in rows) / max(len(rows), 1)
    scored = [(relevance(row.body, terms, average), row) for row in rows]
    # Ties go to the most recent: a message's id, a title's session id.
    scored.sort(key=lambda pair: (-pair[0], -(pair[1].message_id or 0), -pair[1].session_id))
    return [_hit(row, score, terms) for score, row in scored[:limit]]


def _hit(row: Any, score: float, terms: list[str]) -> SearchHit:
    found = make_snippet(row.body, terms)
    return SearchHit(
        session_id=row.session_id,
        session_title=row.session_title,
        message_id=row.message_id,
        role=row.role,
        snippet=found.text,
        highlights=found.highlights,
        score=round(score, 6),
        created_at=row.created_at,
    )


def _parameters(db: Session, terms: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {f"like{i}": like_pattern(term) for i, term in enumerate(terms)}
    if db.get_bind().dialect.name == "sqlite":
        # Each term a quoted string: FTS5 query syntax in the user's text is taken literally.
        params["match"] = " ".join('"' + t.replace('"', '""') + '"' for t in terms if len(t) >= TRIGRAM)
    else:
        # A lexeme quoted in tsquery syntax, matched as a prefix: the text is never query syntax.
        params |= {
            f"word{i}": "'" + t.replace("\\", "\\\\").replace("'", "''") + "':*" for i, t in enumerate(terms)
        }
    return params


# The columns each kind of hit selects, under the names `search` reads.
_COLUMNS = {
    "messages": "m.id AS message_id, m.session_id, m.role, m.content AS body, s.title AS session_title, "
    "m.created_at",
    "titles": "NULL AS message_id, s.id AS session_id, NULL AS role, s.title AS body, "
    "s.title AS session_title, s.updated_at AS created_at",
}


def _sqlite(kind: str, terms: list[str], scope: str) -> str:
    fts, column = (MESSAGES_FTS, "content") if kind == "messages" else (TITLES_FTS, "title")
    joins = (
        f"JOIN chat_messages m ON m.id = {fts}.rowid JOIN chat_sessions s ON s.id = m.session_id"
        if kind == "messages"
        else f"JOIN chat_sessions s ON s.id = {fts}.rowid"
    )
    conditions = [
        f"{fts}.{column} LIKE :like{i} ESCAPE '\\'" for i, t in enumerate(terms) if len(t) < TRIGRAM
    ]
    if any(len(term) >= TRIGRAM for term in terms):
        conditions.insert(0, f"{fts} MATCH :match")
    where = " AND ".join(conditions)
    # Newest first by the FTS table's rowid: FTS5 walks its index that way and stops at the limit.
    select = f"SELECT {_COLUMNS[kind]} FROM {fts} {joins}"
    return f"{select} WHERE {where}{scope} ORDER BY {fts}.rowid DESC LIMIT :candidates"


def _postgresql(kind: str, terms: list[str], scope: str) -> str:
    column = "m.content" if kind == "messages" else "s.title"
    source = (
        "chat_messages m JOIN chat_sessions s ON s.id = m.session_id"
        if kind == "messages"
        else "chat_sessions s"
    )
    # Every term as it is written, too: the tsquery's parser drops punctuation ('100%' is '100').
    conditions = [f"{column} ILIKE :like{i}" for i in range(len(terms))]
    words = [f"to_tsquery('simple', :word{i})" for i, term in enumerate(terms) if not is_unspaced(term)]
    if words:
        conditions.insert(0, f"to_tsvector('simple', {column}) @@ ({' && '.join(words)})")
    if kind == "messages":
        conditions.append("m.status != 'streaming'")  # as SQLite's index, which leaves it out
    newest = "m.id" if kind == "messages" else "s.id"
    select = f"SELECT {_COLUMNS[kind]} FROM {source}"
    return f"{select} WHERE {' AND '.join(conditions)}{scope} ORDER BY {newest} DESC LIMIT :candidates"
