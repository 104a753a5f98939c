"""Automatic session titles, written by a model once a new session's first reply completes."""
