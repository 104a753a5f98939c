"""ChatGPT's data export (`conversations.json`) read into sessions of our archive format.

A conversation there is a tree of nodes (`mapping`), each edit or regeneration a branch; the one
the user last saw ends at `current_node`, and that path, root first, is what is imported. Only
what a reader saw is kept: user, assistant and system text; tool calls and their results, hidden
messages and empty ones are left out, and an assistant's "thoughts" become its reasoning.
Uploaded files and generated images are not in the export's JSON, so they are left out too.
"""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from archive.errors import InvalidArchive
from archive.ours import ArchivedMessage, ArchivedSession

PROVIDER = "openai"
DEFAULT_MODEL = "gpt-4o"
ROLES = {"user", "assistant", "system"}


class _Lenient(BaseModel):
    # The export has many more fields than are read here, and gains new ones.
    model_config = ConfigDict(extra="allow")


class Author(_Lenient):
    role: str


class Content(_Lenient):
    content_type: str
    parts: list[Any] | None = None
    thoughts: list[dict[str, Any]] | None = None


class Message(_Lenient):
    id: str
    author: Author
    create_time: float | None = None
    content: Content
    recipient: str | None = "all"
    metadata: dict[str, Any] = {}


class Node(_Lenient):
    id: str
    message: Message | None = None
    parent: str | None = None


class Conversation(_Lenient):
    title: str | None = None
    create_time: float
    update_time: float | None = None
    mapping: dict[str, Node]
    current_node: str
    conversation_id: str | None = None
    id: str | None = None
    default_model_slug: str | None = None


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _path(conversation: Conversation, index: int) -> list[Node]:
    """The nodes from the root to `current_node`."""
    path: list[Node] = []
    seen: set[str] = set()
    node_id: str | None = conversation.current_node
    while node_id is not None:
        node = conversation.mapping.get(node_id)
        if node is None or node_id in seen:
            problem = "names no node of mapping" if node is None else "is its own ancestor"
            raise InvalidArchive(f"conversations[{index}]: node {node_id!r} {problem}")
        seen.add(node_id)
        path.append(node)
        node_id = node.parent
    return path[::-1]


def _text(content: Content) -> str:
    if content.content_type not in ("text", "multimodal_text"):
        return ""
    # Images in a multimodal message are asset pointers (objects): their files are not exported.
    return "\n".join(part for part in content.parts or [] if isinstance(part, str)).strip()


def _thoughts(content: Content) -> str:
    if content.content_type != "thoughts":
        return ""
    return "\n\n".join(str(thought.get("content", "")) for thought in content.thoughts or []).strip()


def _messages(conversation: Conversation, index: int) -> list[ArchivedMessage]:
    messages: list[ArchivedMessage] = []
    thinking: list[str] = []  # reasoning seen since the last reply, for the next one
    for node in _path(conversation, index):
        message = node.message
        if message is None or message.recipient not in (None, "all"):
            continue
        if thought := _thoughts(message.content):
            thinking.append(thought)
        text = _text(message.content)
        hidden = message.metadata.get("is_visually_hidden_from_conversation")
        if not text or hidden or message.author.role not in ROLES:
            continue
        assistant = message.author.role == "assistant"
        messages.append(
            ArchivedMessage(
                id=len(messages) + 1,
                parent_id=len(messages) or None,
                role=message.author.role,  # type: ignore[arg-type]
                content=text,
                thought_process="\n\n".join(thinking) if assistant and thinking else None,
                provider=PROVIDER if assistant else None,
                model=_model(conversation, message) if assistant else None,
                created_at=_moment(message.create_time or conversation.create_time),
            )
        )
        if assistant:
            thinking = []
    return messages


def _model(conversation: Conversation, message: Message) -> str:
    slug = message.metadata.get("model_slug") or conversation.default_model_slug or DEFAULT_MODEL
    return str(slug)[:200]


def to_session(conversation: Conversation, index: int) -> ArchivedSession:
    messages = _messages(conversation, index)
    key = conversation.conversation_id or conversation.id
    return ArchivedSession(
        origin=f"chatgpt:{key}" if key else None,
        title=(conversation.title or "").strip()[:200] or "Imported chat",
        provider=PROVIDER,
        model=(conversation.default_model_slug or DEFAULT_MODEL)[:200],
        created_at=_moment(conversation.create_time),
        updated_at=_moment(conversation.update_time or conversation.create_time),
        current_leaf_id=messages[-1].id if messages else None,
        messages=messages,
    )
