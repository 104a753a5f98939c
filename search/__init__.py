"""Full-text search over session titles and message text, on SQLite (FTS5) and PostgreSQL (tsvector)."""
