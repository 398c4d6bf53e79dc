"""A request's one Redis round trip: look every item up, and open a job if any is missing.

A server-side script (Redis' own Lua, run by redis-py's stock Script helper) does the MGET
and, only when something is missing, writes the job record: one round trip per request
whether it is all cached or not.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from contract import JobField, JobStatus, cache_key

# KEYS: the items' cache keys, then the job key.
# ARGV: job TTL, the name of the field for the cached list, then the record's other fields.
LOOKUP_OR_OPEN_JOB = """
local n = #KEYS - 1
local found, parts, missing = {}, {}, false
-- MGET in chunks: Lua's unpack() has a stack limit of a few thousand values.
for first = 1, n, 4000 do
  local last = math.min(first + 3999, n)
  local chunk = redis.call('MGET', unpack(KEYS, first, last))
  for i = first, last do
    local value = chunk[i - first + 1]
    found[i] = value
    if value then parts[i] = value else parts[i] = 'null'; missing = true end
  end
end
if missing then
  local job = KEYS[n + 1]
  local fields = {unpack(ARGV, 3)}
  table.insert(fields, ARGV[2])
  table.insert(fields, '[' .. table.concat(parts, ',') .. ']')
  redis.call('HSET', job, unpack(fields))
  redis.call('EXPIRE', job, ARGV[1])
end
return found
"""


class PredictionCache:
    def __init__(self, redis: Redis, job_ttl_seconds: int) -> None:
        self.redis = redis
        self.job_ttl = job_ttl_seconds
        self.script = redis.register_script(LOOKUP_OR_OPEN_JOB)

    async def lookup_or_open_job(
        self,
        items: Sequence[Sequence[float]],
        model_version: str,
        job_key: str,
        created_at: float,
    ) -> list[bytes | None]:
        """Each item's cached result (JSON bytes) or None; the job exists iff one is None."""
        keys = [cache_key(values, model_version) for values in items]
        args: list[str | int | float] = [
            self.job_ttl,
            JobField.CACHED,
            JobField.STATUS,
            JobStatus.QUEUED,
            JobField.CREATED_AT,
            created_at,
        ]
        found = await self.script(keys=[*keys, job_key], args=args)
        return [v.encode() if isinstance(v, str) else v for v in found]
