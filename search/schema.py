"""The search indexes of each dialect: what migration 0008 creates and `create_all` creates alike.

SQLite: two FTS5 tables with the trigram tokenizer, so that any substring of three characters or
more is found, CJK text included, which has no spaces to split words at. They are external-content
tables (the text lives once, in chat_messages and chat_sessions), kept in step by triggers. A reply
still `streaming` is left out until it ends: its text is rewritten on every flush, and the index
would be rewritten with it.

PostgreSQL: expression GIN indexes over `to_tsvector('simple', ...)` for words (the 'simple'
configuration: no stemming, no stop words, no language guessed) and pg_trgm GIN indexes for
substrings, which is how a CJK term is found.

A batch migration that rebuilds chat_messages or chat_sessions on SQLite drops their triggers with
the old table: such a revision must create them again (`restore_triggers`).
"""

from sqlalchemy.engine import Connection

MESSAGES_FTS = "search_messages"
TITLES_FTS = "search_titles"
# Every name this module gives a table or index; autogenerate leaves them alone (migrations.ours).
SQLITE_TABLES = (MESSAGES_FTS, TITLES_FTS)
POSTGRESQL_INDEXES = (
    "ix_chat_messages_words",
    "ix_chat_messages_trigrams",
    "ix_chat_sessions_words",
    "ix_chat_sessions_trigrams",
)

# (fts table, indexed column, source table); a row is indexed when `indexed` holds for it.
_SQLITE_SOURCES = (
    (MESSAGES_FTS, "content", "chat_messages", "{row}.status != 'streaming'"),
    (TITLES_FTS, "title", "chat_sessions", "1"),
)


def is_search_object(name: str | None) -> bool:
    """Whether `name` is one of the search tables (or their FTS5 shadow tables) or indexes."""
    if name is None:
        return False
    return name in POSTGRESQL_INDEXES or any(name.startswith(table) for table in SQLITE_TABLES)


def _sqlite_tables() -> list[str]:
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{source}', content_rowid='id', "
        "tokenize='trigram')"
        for fts, column, source, _ in _SQLITE_SOURCES
    ]


def _sqlite_triggers(table: str | None = None) -> list[str]:
    statements = []
    for fts, column, source, indexed in _SQLITE_SOURCES:
        if table not in (None, source):
            continue
        old, new = indexed.format(row="old"), indexed.format(row="new")
        # FTS5's 'delete' command must be given the values the row was indexed with: only rows
        # that were indexed are deleted from it.
        remove = (
            f"INSERT INTO {fts}({fts}, rowid, {column}) SELECT 'delete', old.id, old.{column} WHERE {old};"
        )
        add = f"INSERT INTO {fts}(rowid, {column}) SELECT new.id, new.{column} WHERE {new};"
        watched = f"{column}, status" if "status" in indexed else column
        statements += [
            f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {source} BEGIN {add} END",
            f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {source} BEGIN {remove} END",
            f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {watched} ON {source} BEGIN {remove} {add} END",
        ]
    return statements


def _sqlite_backfill() -> list[str]:
    return [
        f"INSERT INTO {fts}(rowid, {column}) SELECT id, {column} FROM {source} "
        f"WHERE {indexed.format(row=source)}"
        for fts, column, source, indexed in _SQLITE_SOURCES
    ]


def _postgresql_indexes() -> list[str]:
    words_messages, trigrams_messages, words_sessions, trigrams_sessions = POSTGRESQL_INDEXES
    return [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"CREATE INDEX {words_messages} ON chat_messages USING gin (to_tsvector('simple', content))",
        f"CREATE INDEX {trigrams_messages} ON chat_messages USING gin (content gin_trgm_ops)",
        f"CREATE INDEX {words_sessions} ON chat_sessions USING gin (to_tsvector('simple', title))",
        f"CREATE INDEX {trigrams_sessions} ON chat_sessions USING gin (title gin_trgm_ops)",
    ]


def create(connection: Connection) -> None:
    """Create the search indexes and fill them from the rows already stored."""
    if connection.dialect.name == "sqlite":
        statements = [*_sqlite_tables(), *_sqlite_backfill(), *_sqlite_triggers()]
    elif connection.dialect.name == "postgresql":
        statements = _postgresql_indexes()  # an index is built from the rows it finds
    else:
        return
    for statement in statements:
        connection.exec_driver_sql(statement)


def restore_triggers(connection: Connection, table: str) -> None:
    """Create the triggers on `table` again, after a batch revision rebuilt it (SQLite only)."""
    if connection.dialect.name == "sqlite":
        for statement in _sqlite_triggers(table):
            connection.exec_driver_sql(statement)


def drop(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        for fts, *_ in _SQLITE_SOURCES:
            for event in ("insert", "delete", "update"):
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {fts}_{event}")
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {fts}")
    elif connection.dialect.name == "postgresql":
        for index in POSTGRESQL_INDEXES:
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index}")
