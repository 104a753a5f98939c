"""A generation slot, taken by a chat request and handed to the generation it launches.

The request takes the slot before its turn starts; `GenerationManager.launch` claims it (through
a contextvar, as the launch happens in the request's context) and frees it when the reply ends.
A request that launches nothing frees its slot when it ends.
"""

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Slot:
    release: Callable[[], Awaitable[None]]
    claimed: bool = False


PENDING: ContextVar[Slot | None] = ContextVar("generation_slot", default=None)


def claim() -> Slot | None:
    """The slot the current request took, now the launching generation's (None if there is none)."""
    slot = PENDING.get()
    if slot is None or slot.claimed:
        return None
    slot.claimed = True
    return slot
