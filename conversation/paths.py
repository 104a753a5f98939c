"""Walking a session's messages as a tree. Rows are anything with an `id` and a `parent_id`."""

from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar


class Node(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def parent_id(self) -> int | None: ...


N = TypeVar("N", bound=Node)


def by_id(rows: Iterable[N]) -> dict[int, N]:
    return {row.id: row for row in rows}


def path_to(rows: Sequence[N], message_id: int | None) -> list[N]:
    """The messages from the root down to `message_id`, inclusive; [] for None."""
    index = by_id(rows)
    path: list[N] = []
    current = index.get(message_id) if message_id is not None else None
    while current is not None and len(path) <= len(index):  # bounded even if a cycle were stored
        path.append(current)
        current = index.get(current.parent_id) if current.parent_id is not None else None
    path.reverse()
    return path


def children(rows: Iterable[N]) -> dict[int | None, list[N]]:
    """Each message's children (None: the roots), oldest first."""
    found: dict[int | None, list[N]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        found.setdefault(row.parent_id, []).append(row)
    return found


def branch_of(rows: Sequence[N], message_id: int) -> set[int]:
    """The ids of `message_id` and of every message below it."""
    below = children(rows)
    found: set[int] = set()
    pending = [message_id]
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending.extend(row.id for row in below.get(current, ()))
    return found


def newest_leaf_below(rows: Sequence[N], message_id: int) -> int:
    """The leaf reached from `message_id` by following the newest child at each step."""
    below = children(rows)
    current = message_id
    for _ in range(len(rows)):
        newest = below.get(current)
        if not newest:
            break
        current = newest[-1].id
    return current
