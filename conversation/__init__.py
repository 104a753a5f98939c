"""Conversations as trees: every message has a parent, a session shows the path to its current leaf.

`paths` walks a session's rows (path to a message, children, a branch, the newest leaf below);
`store` reads and changes the tree in units of work; `branching` starts the turns that open a new
branch (edit a user message, regenerate a reply) through the generation machinery of any turn.
"""
