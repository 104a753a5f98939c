"""Accounts: who a request comes from, and what is theirs (AUTH_MODE, docs/auth.md)."""
