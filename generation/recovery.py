"""Replies a process did not finish: the ones a dead process left, and the ones a shutdown ends.

A reply left `streaming` with no generation anywhere belongs to a process that died: it is marked
`interrupted`, keeping the text flushed before. With several workers, the worker running a reply
holds a lease in Redis (renewed by its supervisor), so a reply is only an orphan once no live
worker holds it.
"""

import asyncio
import logging
import time
from collections.abc import Collection
from datetime import timedelta

import database
from generation.redis_bus import LEASE_TTL_SECONDS, RedisBus
from generation.running import Generation
from generation.watchdogs import Abort
from models import ApiError

logger = logging.getLogger(__name__)


class ServiceDraining(ApiError):
    status_code = 503
    headers = {"Retry-After": "5"}

    def __init__(self, message: str = "The server is shutting down; retry the chat in a moment") -> None:
        super().__init__(message)


class Recovery:
    """Finds and marks orphaned replies at start and, with several workers, on the way."""

    def __init__(self, db: database.Database, bus: RedisBus | None) -> None:
        self.db = db
        self.bus = bus
        self._leases_renewed = 0.0
        self._swept = 0.0

    async def at_start(self, running: Collection[int]) -> None:
        # With several workers, a young row may be one another worker is launching right now.
        recovered = await self.orphans(running, min_age=LEASE_TTL_SECONDS if self.bus else 0)
        if recovered:
            logger.warning("Marked %d replies left streaming by a dead process as interrupted", recovered)

    async def orphans(self, running: Collection[int], *, min_age: float) -> int:
        created_before = database.utcnow() - timedelta(seconds=min_age) if min_age else None
        ids = await self.db.run(database.streaming_message_ids, created_before=created_before)
        orphans = [i for i in ids if i not in running]
        if self.bus is not None:
            orphans = sorted(set(orphans) - await self.bus.leased(orphans))
        if orphans:
            # Guarded by status: a reply that ended meanwhile keeps its final row.
            await self.db.run(database.mark_interrupted, orphans)
        return len(orphans)

    async def keep_leases(self, running: Collection[int]) -> None:
        """Renew this worker's leases and sweep for other workers' orphans, each on its own period."""
        if self.bus is None:
            return
        now = time.monotonic()
        if now - self._leases_renewed > LEASE_TTL_SECONDS / 3:
            self._leases_renewed = now
            await self.bus.renew_leases(list(running))
        if now - self._swept > LEASE_TTL_SECONDS / 2:
            self._swept = now
            await self.orphans(running, min_age=LEASE_TTL_SECONDS)


async def drain(running: Collection[Generation], grace: float) -> None:
    """Give running replies `grace` seconds, then store what is left as interrupted."""
    waiting = [asyncio.ensure_future(g.done.wait()) for g in running]
    if waiting:
        _, pending = await asyncio.wait(waiting, timeout=grace)
        for waiter in pending:
            waiter.cancel()
    shutdown = Abort("interrupted", "shutdown", ServiceDraining("The server shut down during the reply"))
    tasks = [g.task for g in running if g.abort(shutdown) and g.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=5)
