"""Seed 003's WebSocket streaming protocol over the same generations and event logs as SSE.

`frames` parses what a client sends and renders a reply's events as the protocol's frames;
`connection` is one socket: a bounded outbox, one relay per reply it follows, multiplexed by message id.
"""
