"""Redis' memory: finished records trimmed to their budget, and new jobs refused for backlog.

Redis evicts only keys with a TTL (`volatile-lru`), and only cache entries carry one, so the
cache gives way to everything else: open work (queued and running jobs, their tasks) and
finished job records. Of these, finished records are irisq's to bound: they may hold
RECORDS_MEMORY_SHARE of `maxmemory`, less what open work needs beyond the rest, and past that
the sweeper trims the oldest first (gateway/sweeper.py). Open work is never dropped: while it
alone comes near STORE_HIGH_WATER of `maxmemory`, requests that need a new job get a 503, which
leaves the rest for the jobs already accepted to finish. Cache hits and job reads need no new
state and are always answered.

The finished records' size is their own count (`MEMORY USAGE` of each, summed as each
finishes) plus their index's entries. The cache's is estimated (Redis does not report it):
its entries' count times the size of one. Open work is what remains of the memory used.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from contract.jobs import FINISHED_BYTES_KEY, FINISHED_JOBS_KEY, INDEX_ENTRY_BYTES
from gateway.metrics import Metrics
from gateway.sweeper import JobSweeper

log = logging.getLogger("irisq.gateway")

# What one cache entry costs Redis: its key and value (MEMORY USAGE says ~216 bytes), its
# expiry and its slots in the key and expiry tables; measured as used_memory's growth.
CACHE_ENTRY_BYTES = 300


class StoreCapacity:
    def __init__(
        self,
        redis: Redis,
        high_water: float,
        records_share: float,
        interval_seconds: float,
        metrics: Metrics,
        sweeper: JobSweeper,
    ) -> None:
        self.redis = redis
        # The database the client uses (asked once): its keyspace line counts our cache entries.
        self.db: str | None = None
        self.high_water = high_water
        self.records_share = records_share
        self.interval = interval_seconds
        self.metrics = metrics
        self.sweeper = sweeper
        self.full = False

    async def check(self) -> bool:
        """Trim finished records to their budget; whether open work fills the store."""
        if self.db is None:
            self.db = f"db{(await self.redis.client_info())['db']}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.info("memory")
            pipe.info("keyspace")
            pipe.get(FINISHED_BYTES_KEY)
            pipe.zcard(FINISHED_JOBS_KEY)
            memory, keyspace, records_bytes, count = await pipe.execute()
        maxmemory = int(memory.get("maxmemory", 0))
        records = int(records_bytes or 0)
        finished = records + count * INDEX_ENTRY_BYTES
        self.metrics.records_bytes.set(finished)
        if maxmemory <= 0:
            self._set_full(False, 0, maxmemory)
            return False
        cache = int(keyspace.get(self.db, {}).get("expires", 0)) * CACHE_ENTRY_BYTES
        open_work = max(0, int(memory["used_memory"]) - cache - finished)
        room = self.high_water * maxmemory
        budget = int(max(0.0, min(self.records_share * maxmemory, room - open_work)))
        if finished > budget:
            # The records' own share of the budget: the index shrinks with them.
            await self.sweeper.trim(budget * records // finished)
        self._set_full(open_work >= room, open_work, maxmemory)
        return self.full

    def _set_full(self, full: bool, open_work: int, maxmemory: int) -> None:
        if full != self.full:
            log.warning(
                "store %s: open work ~%d of %d bytes (high water %.0f %%)",
                "full, refusing new jobs" if full else "has room again, accepting new jobs",
                open_work,
                maxmemory,
                self.high_water * 100,
            )
        self.full = full

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except RedisError as exc:
                log.debug("capacity check failed: %s", exc)
            await asyncio.sleep(self.interval)
