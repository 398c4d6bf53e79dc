"""Job records: `GET /jobs/{id}` reads them; a job answered inside its request is forgotten."""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from contract import lua_scripts
from contract.http import JobView
from contract.jobs import TRIMMED_JOBS_KEY, is_job_id, job_key
from contract.lua_scripts import Script
from contract.messages import OUTCOME_FIELDS, JobOutcome, record_outcome
from gateway.metrics import Metrics

log = logging.getLogger("irisq.gateway")

# Records deleted per script call: bounds the time Redis spends in one call.
FORGET_BATCH = 1000


class JobStore:
    """Reads job records, and deletes those whose answer went out in their sync response.

    A sync request answered with its job's outcome has delivered everything its record
    holds: the record is deleted then (docs/reliability.md, the retention rule), after
    ANSWERED_RECORD_SECONDS: the deletions of that span travel together in one script call
    (at low concurrency a call per answer would cost the gateway and Redis as much as the
    answer's own lookup), and the request never waits for its deletion.
    """

    def __init__(self, redis: Redis, metrics: Metrics, answered_record_seconds: float) -> None:
        self.redis = redis
        self.forget_delay = answered_record_seconds
        self.metrics = metrics
        self.delete_script = redis.register_script(lua_scripts.source(Script.DELETE_FINISHED))
        self.answered: list[str] = []
        self.forget_timer: asyncio.TimerHandle | None = None
        self.forget_task: asyncio.Task[None] | None = None

    async def get(self, job_id: str) -> JobView | None:
        # An id that is not ours never reaches Redis.
        if not is_job_id(job_id):
            return None
        return JobView.from_record(job_id, await self.redis.hgetall(job_key(job_id)))

    async def outcome(self, job_id: str) -> JobOutcome | None:
        """The finished job's outcome from its record; None while it is open or unknown."""
        return record_outcome(await self.redis.hmget(job_key(job_id), OUTCOME_FIELDS))

    async def was_trimmed(self, job_id: str) -> bool:
        """Whether the job's record was trimmed under memory pressure (the newest ids kept)."""
        if not is_job_id(job_id):
            return False
        return await self.redis.zscore(TRIMMED_JOBS_KEY, job_id) is not None

    def forget(self, job_id: str) -> None:
        """The job's outcome went out in its sync response: its record goes, soon."""
        self.answered.append(job_id)
        if self.forget_timer is None:
            loop = asyncio.get_running_loop()
            self.forget_timer = loop.call_later(self.forget_delay, self._start_forgetting)

    def _start_forgetting(self) -> None:
        self.forget_timer = None
        if self.forget_task is None or self.forget_task.done():
            self.forget_task = asyncio.get_running_loop().create_task(self._forget())

    async def _forget(self) -> None:
        while self.answered:
            batch = self.answered[:FORGET_BATCH]
            del self.answered[:FORGET_BATCH]
            keys, args = lua_scripts.forget_answered(batch)
            try:
                reply = await self.delete_script(keys=keys, args=args)
            except RedisError as exc:
                # The records stay until JOB_TTL_SECONDS, or are trimmed first under pressure.
                log.debug("could not delete %d answered job records: %s", len(batch), exc)
                continue
            self.metrics.records_forgotten.inc(lua_scripts.deleted(reply).records)

    async def close(self) -> None:
        """Send the deletions still pending (the lifespan ends)."""
        if self.forget_timer is not None:
            self.forget_timer.cancel()
            self._start_forgetting()
        if self.forget_task is not None:
            await asyncio.gather(self.forget_task, return_exceptions=True)
