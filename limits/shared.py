"""Limits counted in Redis, shared by every worker (REDIS_URL).

Requests: a sorted set per client of its requests in the last minute, scored by their time.
Generations: a sorted set per client of its running generations, scored by when they are given
up as lost, so that a worker that dies with slots taken does not hold them for ever. Each check
is one Lua script: atomic, however many workers ask at once.
"""

import time
import uuid

import redis.asyncio as redis

from limits.local import WINDOW
from limits.slots import Slot

# Count a request if fewer than ARGV[1] were made since ARGV[2]; else answer the oldest one's time.
# KEYS[1] the set; ARGV: limit, window start, now, member, seconds to keep the set.
_HIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return false
"""
# Take a slot if fewer than ARGV[1] live ones exist: KEYS[1] the set, ARGV: limit, now, expiry, member.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(ARGV[3] - ARGV[2]) + 1)
return 1
"""


class RedisLimits:
    def __init__(self, url: str, per_minute: int, concurrent: int, slot_seconds: float) -> None:
        self.per_minute = per_minute
        self.concurrent = concurrent
        self.slot_seconds = slot_seconds
        self.redis = redis.from_url(url)
        self._hit = self.redis.register_script(_HIT)
        self._take = self.redis.register_script(_TAKE)

    async def hit(self, key: str) -> float | None:
        now = time.time()
        args: list[str | int | float] = [
            self.per_minute,
            now - WINDOW,
            now,
            uuid.uuid4().hex,
            int(WINDOW) + 1,
        ]
        oldest = await self._hit(keys=[f"limits:requests:{key}"], args=args)
        return None if oldest is None else float(oldest) + WINDOW - now

    async def acquire(self, key: str) -> Slot | None:
        running = f"limits:running:{key}"
        member = uuid.uuid4().hex
        now = time.time()
        taken = await self._take(keys=[running], args=[self.concurrent, now, now + self.slot_seconds, member])
        if not taken:
            return None

        async def release() -> None:
            await self.redis.zrem(running, member)

        return Slot(release)

    async def close(self) -> None:
        await self.redis.aclose()
