"""A request's one Redis round trip: look every item up, and open a job if any is missing.

A server-side script (Redis' own Lua, sent as EVALSHA with redis-py) does the MGET and, only
when something is missing, writes the job record: one round trip per request whether it is
all cached or not, shared with the other requests of the moment (below).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from contract import JOB_DEADLINES_KEY, JobField, JobStatus, cache_key_prefix, lua_job_id

# One call serves every lookup of a batch. KEYS: the job deadlines index, then per lookup its
# items' cache keys and its job key. ARGV: the job timeout in seconds, then per lookup its
# item count and the job's creation time. Returns per lookup the list of cached
# values (nil for a miss). The record carries no TTL (contract: JOB_DEADLINES_KEY); its
# deadline is its creation time plus the timeout. The record's field names are written into
# the script: every argument costs redis-py encoding time on each call.
LOOKUP_OR_OPEN_JOBS = f"""
local timeout = tonumber(ARGV[1])
local deadlines = KEYS[1]
local results = {{}}
local base = 1
for arg = 2, #ARGV, 2 do
  local n = tonumber(ARGV[arg])
  local found, parts, missing = {{}}, {{}}, false
  -- MGET in chunks: Lua's unpack() has a stack limit of a few thousand values.
  for first = 1, n, 4000 do
    local last = math.min(first + 3999, n)
    local chunk = redis.call('MGET', unpack(KEYS, base + first, base + last))
    for i = first, last do
      local value = chunk[i - first + 1]
      found[i] = value
      if value then parts[i] = value else parts[i] = 'null'; missing = true end
    end
  end
  if missing then
    local job = KEYS[base + n + 1]
    redis.call('HSET', job, '{JobField.STATUS}', '{JobStatus.QUEUED}',
      '{JobField.CREATED_AT}', ARGV[arg + 1],
      '{JobField.CACHED}', '[' .. table.concat(parts, ',') .. ']')
    redis.call('ZADD', deadlines, tonumber(ARGV[arg + 1]) + timeout, {lua_job_id("job")})
  end
  results[#results + 1] = found
  base = base + n + 1
end
return results
"""


Pending = tuple[list[str], bytes, "asyncio.Future[list[bytes | None]]"]


class PredictionCache:
    """Runs the lookups of concurrent requests together, one script call per round trip.

    redis-py spends ~100 µs of CPU on every command it sends alone (pool checkout, connection
    check, a write and a read), and in a pipeline still a read with its own timeout per
    command: the lookups of a batch go as one command (docs/performance.md, eighth round). A
    lookup is sent at once when none is in flight; while one is, the next ones gather and
    travel together when it returns, so nobody waits for a timer.
    """

    def __init__(self, redis: Redis, job_timeout_seconds: float) -> None:
        self.redis = redis
        self.job_timeout = repr(float(job_timeout_seconds)).encode()
        self.script = redis.register_script(LOOKUP_OR_OPEN_JOBS)
        self.pending: list[Pending] = []
        self.flush_task: asyncio.Task[None] | None = None

    async def lookup_or_open_job(
        self,
        key_suffixes: Sequence[str],
        model_version: str,
        job_key: str,
        created_at: float,
    ) -> list[bytes | None]:
        """Each item's cached result (JSON bytes) or None; the job exists iff one is None.

        `key_suffixes` are the items' canonical values as keys spell them, as the route makes
        them (`contract.canonical_rows`).
        """
        prefix = cache_key_prefix(model_version)
        keys = [*(prefix + suffix for suffix in key_suffixes), job_key]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[bytes | None]] = loop.create_future()
        self.pending.append((keys, repr(created_at).encode(), future))
        # The flush task drains everything appended before it returns (nothing can be
        # appended between its last check and its end: there is no await in between).
        if self.flush_task is None or self.flush_task.done():
            self.flush_task = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                results: list[Any] = await self._run(batch)
            except Exception as exc:  # Redis unreachable: every waiter gets the error
                results = [exc] * len(batch)
            for (_, _, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result([_as_bytes(v) for v in result])

    async def _run(self, batch: list[Pending]) -> list[Any]:
        keys: list[str] = [JOB_DEADLINES_KEY]
        args: list[bytes | int] = [self.job_timeout]
        for lookup_keys, created_at, _ in batch:
            keys += lookup_keys
            args += (len(lookup_keys) - 1, created_at)
        # redis-py's Script loads the script again when a restarted Redis has forgotten it.
        results: list[Any] = await self.script(keys=keys, args=args)
        return results


def _as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value
