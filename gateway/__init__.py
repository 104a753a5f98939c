"""The OpenAI-compatible front door: Chat Completions in, the same chat turns and sessions behind.

`schemas` is the wire's request, `routing` turns a model name or alias into vendor targets, `fallbacks`
tries them in order behind the `breaker`, `calls` stores and launches a call as a generation,
`chunks` renders that generation's events in OpenAI's form, `pricing` and `usage` account for it.
"""
