"""The job sweeper: fails jobs open past JOB_TIMEOUT_SECONDS, deletes records past JOB_TTL,
and trims the oldest finished records to the budget gateway/capacity.py sets.

Job records carry no Redis TTL (contract/jobs.py), so that memory pressure never
evicts one; this loop keeps their lifetime instead. It is also the second line of defence
behind the worker's own failure handling: whatever happened to a task (its worker killed
whole, its message lost), no job stays queued or running past its deadline.

Every gateway runs one; the scripts re-check each job's deadline and status themselves, so
two sweepers acting on the same job do it once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from contract import lua_scripts
from contract.jobs import FINISHED_JOBS_KEY, OPEN_JOBS_KEY, TRIMMED_JOBS_KEY
from contract.lua_scripts import ANY_TIME, Script
from gateway.metrics import Metrics

log = logging.getLogger("irisq.gateway")

# Jobs handled per script call: bounds the time Redis spends in one call.
SWEEP_BATCH = 500


def timeout_error(timeout_seconds: float) -> str:
    return f"prediction failed: not finished within JOB_TIMEOUT_SECONDS ({timeout_seconds:g} s)"


class JobSweeper:
    def __init__(
        self,
        redis: Redis,
        timeout_seconds: float,
        ttl_seconds: int,
        interval_seconds: float,
        metrics: Metrics,
    ) -> None:
        self.redis = redis
        self.metrics = metrics
        self.ttl = ttl_seconds
        self.interval = interval_seconds
        self.error = timeout_error(timeout_seconds)
        self.overdue_script = redis.register_script(lua_scripts.source(Script.OVERDUE_JOBS))
        self.fail_script = redis.register_script(lua_scripts.source(Script.FAIL_JOBS))
        self.delete_script = redis.register_script(lua_scripts.source(Script.DELETE_FINISHED))

    async def sweep(self, now: float | None = None) -> tuple[int, int]:
        """One pass over every job due by `now`: (jobs failed, records deleted)."""
        now = time.time() if now is None else now
        return await self._fail_overdue(now), await self._expire(now)

    async def _due(self, index: str, by: float) -> list[str]:
        due: list[Any] = await self.redis.zrangebyscore(index, "-inf", by, start=0, num=SWEEP_BATCH)
        return [job_id.decode() for job_id in due]  # the client returns bytes

    async def _fail_overdue(self, now: float) -> int:
        failed = 0
        while due := await self._due(OPEN_JOBS_KEY, now):
            keys, args = lua_scripts.overdue_jobs(due, now)
            if ids := lua_scripts.overdue(await self.overdue_script(keys=keys, args=args)):
                keys, args = lua_scripts.fail_jobs(ids, self.error, now, None)
                failed += lua_scripts.ended(await self.fail_script(keys=keys, args=args))
            if len(due) < SWEEP_BATCH:
                break
        return failed

    async def _expire(self, now: float) -> int:
        finished_by = now - self.ttl
        deleted = 0
        while due := await self._due(FINISHED_JOBS_KEY, finished_by):
            keys, args = lua_scripts.expire_finished(due, finished_by)
            reply = await self.delete_script(keys=keys, args=args)
            deleted += lua_scripts.deleted(reply).records
            if len(due) < SWEEP_BATCH:
                break
        # A trimmed record would have expired by now too: its id need not be remembered.
        await self.redis.zremrangebyscore(TRIMMED_JOBS_KEY, "-inf", finished_by)
        return deleted

    async def trim(self, keep_bytes: int) -> int:
        """Delete the oldest finished records until they hold at most `keep_bytes` (their own
        bytes, as FINISHED_BYTES_KEY counts them); how many went."""
        trimmed = 0
        while due := await self._due(FINISHED_JOBS_KEY, ANY_TIME):
            keys, args = lua_scripts.trim_finished(due, keep_bytes, time.time())
            deleted, left = lua_scripts.deleted(await self.delete_script(keys=keys, args=args))
            trimmed += deleted
            self.metrics.records_trimmed.inc(deleted)
            if left <= keep_bytes or deleted == 0:
                break
        return trimmed

    async def run(self) -> None:
        while True:
            try:
                failed, deleted = await self.sweep()
                if failed:
                    log.warning("failed %d jobs open past their deadline (%s)", failed, self.error)
                if deleted:
                    log.debug("deleted %d job records past JOB_TTL_SECONDS", deleted)
            except RedisError as exc:
                log.debug("sweep failed: %s", exc)
            await asyncio.sleep(self.interval)
