"""Back-pressure: new work is refused while jobs and queued tasks alone fill Redis.

Redis evicts only keys with a TTL (`volatile-lru`), and only cache entries carry one, so the
cache gives way to job records and queued tasks. When those alone come near `maxmemory`,
accepting more would end in Redis refusing writes half-way through a job's life (a worker
could not record its results, Celery could not note a task it took). So the gateway refuses
new requests with a 503 while the state's share of memory is above STORE_HIGH_WATER, which
leaves the rest for the jobs already accepted to finish.

The state's size is not reported by Redis; it is estimated as the memory used less what the
cache entries hold (their count times the size of one).
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("irisq.gateway")

# What one cache entry costs Redis: its key and value (MEMORY USAGE says ~216 bytes), its
# expiry and its slots in the key and expiry tables; measured as used_memory's growth.
CACHE_ENTRY_BYTES = 300


class StoreCapacity:
    def __init__(self, redis: Redis, high_water: float, interval_seconds: float) -> None:
        self.redis = redis
        # The database the URL chose: its keyspace line counts our cache entries.
        self.db = f"db{redis.connection_pool.connection_kwargs.get('db', 0)}"
        self.high_water = high_water
        self.interval = interval_seconds
        self.full = False

    async def check(self) -> bool:
        """Whether the state's estimated share of `maxmemory` is at or above the high water."""
        memory = await self.redis.info("memory")
        maxmemory = int(memory.get("maxmemory", 0))
        if maxmemory <= 0:
            self.full = False
            return False
        keyspace = await self.redis.info("keyspace")
        cache_entries = int(keyspace.get(self.db, {}).get("expires", 0))
        state = int(memory["used_memory"]) - cache_entries * CACHE_ENTRY_BYTES
        full = state >= self.high_water * maxmemory
        if full != self.full:
            log.warning(
                "store %s: state ~%d of %d bytes (high water %.0f %%)",
                "full, refusing new work" if full else "has room again, accepting work",
                state,
                maxmemory,
                self.high_water * 100,
            )
        self.full = full
        return full

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except RedisError as exc:
                log.debug("capacity check failed: %s", exc)
            await asyncio.sleep(self.interval)
