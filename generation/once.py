"""A flag set once, awaited by any number of tasks: asyncio.Event's `set`, `is_set` and `wait`.

Every reply has two (its end, its stored row); an asyncio.Event carries an instance dict and a
deque of ~620 bytes each from the start, where this makes one future only once something waits.
"""

import asyncio


class Once:
    __slots__ = ("_future", "_set")

    def __init__(self) -> None:
        self._set = False
        self._future: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def wait(self) -> None:
        if self._set:
            return
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        # Shielded: a waiter that is cancelled must not cancel the future the others wait on.
        await asyncio.shield(self._future)
