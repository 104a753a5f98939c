"""Export and import of conversations: our own lossless format, and ChatGPT's `conversations.json`."""
