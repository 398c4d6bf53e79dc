"""The job sweeper: fails jobs open past JOB_TIMEOUT_SECONDS, deletes records past JOB_TTL.

Job records carry no Redis TTL (contract/jobs.py), so that memory pressure never
evicts one; this loop keeps their lifetime instead. It is also the second line of defence
behind the worker's own failure handling: whatever happened to a task (its worker killed
whole, its message lost), no job stays queued or running past its deadline.

Every gateway runs one; the script re-checks each job's deadline and status itself, so two
sweepers acting on the same job do it once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from contract import scripts
from contract.jobs import JOB_DEADLINES_KEY
from contract.scripts import Script

log = logging.getLogger("irisq.gateway")

# Jobs handled per script call: bounds the time Redis spends in one call.
SWEEP_BATCH = 500


def timeout_error(timeout_seconds: float) -> str:
    return f"prediction failed: not finished within JOB_TIMEOUT_SECONDS ({timeout_seconds:g} s)"


class JobSweeper:
    def __init__(
        self, redis: Redis, timeout_seconds: float, ttl_seconds: int, interval_seconds: float
    ) -> None:
        self.redis = redis
        self.ttl = ttl_seconds
        self.interval = interval_seconds
        self.error = timeout_error(timeout_seconds)
        self.sweep_script = redis.register_script(scripts.source(Script.SWEEP))
        self.fail_script = redis.register_script(scripts.source(Script.FAIL_JOBS))

    async def sweep(self, now: float | None = None) -> tuple[int, int]:
        """One pass over every job due by `now`: (jobs failed, records deleted)."""
        now = time.time() if now is None else now
        failed = deleted = 0
        while True:
            due: list[Any] = await self.redis.zrangebyscore(
                JOB_DEADLINES_KEY, "-inf", now, start=0, num=SWEEP_BATCH
            )
            if not due:
                return failed, deleted
            ids = [job_id.decode() for job_id in due]  # the client returns bytes
            keys, args = scripts.sweep(ids, now)
            overdue, swept = await self.sweep_script(keys=keys, args=args)
            deleted += int(swept)
            if overdue:
                keys, args = scripts.fail_jobs(
                    [job_id.decode() for job_id in overdue], self.error, now, self.ttl, None
                )
                failed += int(await self.fail_script(keys=keys, args=args))
            if len(due) < SWEEP_BATCH:
                return failed, deleted

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
