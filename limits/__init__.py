"""Per-client limits on chat requests: requests a minute and generations at once (429 + Retry-After).

A client is a user when authentication is on, its address otherwise (`dependency.client_key`).
The counts live in this process (`local.py`), or in Redis when REDIS_URL is set (`shared.py`), so
that every worker sees the same ones.
"""
