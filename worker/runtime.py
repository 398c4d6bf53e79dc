"""Per-process state of a worker: the model and a Redis client, made once after the fork."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from redis.commands.core import Script

from contract import JobField, JobStatus
from worker.model import LoadedModel, load_model
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.worker")


# A task's Redis writes are server-side loops, one command each: sent as separate commands
# (a pipeline of HSET, EXPIRE and SET EX per job and item) redis-py's packing of every command
# cost a task's pool process a third of its time (docs/performance.md).

# KEYS: the jobs' keys. ARGV: the start time, the done channel, the task's started message
# (the gateway sends its next task once this one has a worker: gateway/dispatcher.py).
MARK_RUNNING_LUA = f"""
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], '{JobField.STATUS}', '{JobStatus.RUNNING}',
    '{JobField.STARTED_AT}', ARGV[1])
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return #KEYS
"""

# KEYS: the model key, the m jobs' keys, then the items' cache keys.
# ARGV: m, the cache TTL, the job TTL, the model TTL, the finish time, the model version,
# the model metadata, the done channel, the done message, the m jobs' results, then one
# value per cache key. The records and the cache are written before the message goes out.
RECORD_RESULTS_LUA = f"""
local m = tonumber(ARGV[1])
local cache_ttl, job_ttl = ARGV[2], ARGV[3]
redis.call('SET', KEYS[1], ARGV[7], 'EX', ARGV[4])
for i = 1, m do
  local key = KEYS[1 + i]
  redis.call('HSET', key, '{JobField.STATUS}', '{JobStatus.DONE}',
    '{JobField.FINISHED_AT}', ARGV[5], '{JobField.MODEL_VERSION}', ARGV[6],
    '{JobField.RESULTS}', ARGV[9 + i])
  redis.call('EXPIRE', key, job_ttl)
end
local value = 9 + m
for i = 2 + m, #KEYS do
  value = value + 1
  redis.call('SET', KEYS[i], ARGV[value], 'EX', cache_ttl)
end
redis.call('PUBLISH', ARGV[8], ARGV[9])
return m
"""


@dataclass(frozen=True)
class Runtime:
    settings: WorkerSettings
    model: LoadedModel
    redis: redis.Redis
    mark_running: Script
    record_results: Script


_runtime: Runtime | None = None


def init(settings: WorkerSettings) -> Runtime:
    global _runtime
    if _runtime is None:
        client = redis.Redis.from_url(settings.broker_url, socket_timeout=5.0)
        _runtime = Runtime(
            settings=settings,
            model=load_model(settings.model_dir),
            redis=client,
            mark_running=client.register_script(MARK_RUNNING_LUA),
            record_results=client.register_script(RECORD_RESULTS_LUA),
        )
    return _runtime


def get(settings: WorkerSettings) -> Runtime:
    """The process's runtime; made on first use where no fork happens (solo pool)."""
    return _runtime if _runtime is not None else init(settings)
