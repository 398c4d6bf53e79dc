"""The job sweeper: fails jobs open past JOB_TIMEOUT_SECONDS, deletes records past JOB_TTL.

Job records carry no Redis TTL (contract: JOB_DEADLINES_KEY), so that memory pressure never
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

from contract import DONE_CHANNEL, JOB_DEADLINES_KEY, JobField, JobStatus, job_key

log = logging.getLogger("irisq.gateway")

# Jobs handled per script call: bounds the time Redis spends in one call.
SWEEP_BATCH = 500

# KEYS: the deadlines index, then the jobs' keys. ARGV: now, the job TTL, the error for
# overdue jobs, the done channel, then the jobs' ids. An open job past its deadline is failed,
# given its TTL deadline and announced as failed; a finished one past its deadline is deleted.
# Returns the number of jobs failed and deleted. `allow-oom`: with Redis' memory full of jobs,
# the sweeper still ends overdue jobs and frees expired records (it frees more than it adds).
SWEEP_LUA = f"""#!lua flags=allow-oom
local now, ttl, error, channel = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local failed, deleted, outcomes = 0, 0, {{}}
for i = 2, #KEYS do
  local id = ARGV[3 + i]
  local deadline = tonumber(redis.call('ZSCORE', KEYS[1], id))
  if deadline and deadline <= now then
    local kind = redis.call('TYPE', KEYS[i])['ok']
    local status = false
    if kind == 'hash' then status = redis.call('HGET', KEYS[i], '{JobField.STATUS}') end
    if kind ~= 'hash' and kind ~= 'none' then
      -- Not a job record (written by someone else): not ours to change or delete.
      redis.call('ZREM', KEYS[1], id)
    elseif status == '{JobStatus.QUEUED}' or status == '{JobStatus.RUNNING}' then
      redis.call('HSET', KEYS[i], '{JobField.STATUS}', '{JobStatus.FAILED}',
        '{JobField.FINISHED_AT}', ARGV[1], '{JobField.ERROR}', error)
      redis.call('ZADD', KEYS[1], now + ttl, id)
      outcomes[id] = {{status = '{JobStatus.FAILED}', error = error}}
      failed = failed + 1
    else
      redis.call('DEL', KEYS[i])
      redis.call('ZREM', KEYS[1], id)
      deleted = deleted + 1
    end
  end
end
if failed > 0 then
  redis.call('PUBLISH', channel, cjson.encode({{jobs = outcomes}}))
end
return {{failed, deleted}}
"""


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
        self.script = redis.register_script(SWEEP_LUA)

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
            result = await self.script(
                keys=[JOB_DEADLINES_KEY, *(job_key(i) for i in ids)],
                args=[repr(now), self.ttl, self.error, DONE_CHANNEL, *ids],
            )
            failed, deleted = failed + int(result[0]), deleted + int(result[1])
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
