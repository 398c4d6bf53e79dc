"""Per-process state of a worker: the model (loaded before the fork) and a Redis client."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from redis.commands.core import Script

from contract import JobField, JobStatus, lua_job_id
from worker.model import LoadedModel, load_model
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.worker")


# A task's Redis writes are server-side loops, one command each: sent as separate commands
# (a pipeline of HSET, EXPIRE and SET EX per job and item) redis-py's packing of every command
# cost a task's pool process a third of its time (docs/performance.md).
#
# The job-record lifecycle (contract.JOB_DEADLINES_KEY): a job is open while its status is
# queued or running, and only open jobs are written; HSET on a missing key would create it,
# so each script reads the status first, and a finished job (done or failed) is never
# changed again. Job keys never get a TTL: a finished job's deadline entry says when the
# gateway's sweeper deletes it.

# The status a job is written in only while it is open.
_OPEN = f"status == '{JobStatus.QUEUED}' or status == '{JobStatus.RUNNING}'"

# KEYS: the jobs' keys. ARGV: the start time, the done channel, the task's started message
# (the gateway sends its next task once this one has a worker: gateway/dispatcher.py), the
# task id. Marks the open jobs running (again, for a task redelivered after its worker died)
# and returns their positions (1-based). With none open (a task run again after it finished)
# the task's outcome goes out at once, with no jobs, so the gateway frees its slot.
MARK_RUNNING_LUA = f"""
local open = {{}}
for i = 1, #KEYS do
  local key = KEYS[i]
  local status = redis.call('HGET', key, '{JobField.STATUS}')
  if {_OPEN} then
    redis.call('HSET', key, '{JobField.STATUS}', '{JobStatus.RUNNING}',
      '{JobField.STARTED_AT}', ARGV[1])
    open[#open + 1] = i
  end
end
if #open > 0 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
else
  redis.call('PUBLISH', ARGV[2], '{{"task_id":' .. cjson.encode(ARGV[4]) .. ',"jobs":{{}}}}')
end
return open
"""

# KEYS: the model key, the deadline index, the m jobs' keys, then the items' cache keys.
# ARGV: m, the cache TTL, the finish time, the finished jobs' deadline, the model TTL, the
# model version, the model metadata, the done channel, the task id, the version as JSON,
# the m jobs' results (JSON), then one value per cache key. The records and the cache are
# written before the message goes out; the message carries the jobs this call finished.
RECORD_RESULTS_LUA = f"""
local m = tonumber(ARGV[1])
local cache_ttl = ARGV[2]
redis.call('SET', KEYS[1], ARGV[7], 'EX', ARGV[5])
local outcomes = {{}}
local done = ':{{"status":"{JobStatus.DONE}","model_version":' .. ARGV[10] .. ',"results":'
for i = 1, m do
  local key = KEYS[2 + i]
  local status = redis.call('HGET', key, '{JobField.STATUS}')
  if {_OPEN} then
    local results = ARGV[10 + i]
    redis.call('HSET', key, '{JobField.STATUS}', '{JobStatus.DONE}',
      '{JobField.FINISHED_AT}', ARGV[3], '{JobField.MODEL_VERSION}', ARGV[6],
      '{JobField.RESULTS}', results)
    local id = {lua_job_id("key")}
    redis.call('ZADD', KEYS[2], ARGV[4], id)
    outcomes[#outcomes + 1] = cjson.encode(id) .. done .. results .. '}}'
  end
end
local value = 10 + m
for i = 3 + m, #KEYS do
  value = value + 1
  redis.call('SET', KEYS[i], ARGV[value], 'EX', cache_ttl)
end
redis.call('PUBLISH', ARGV[8],
  '{{"task_id":' .. cjson.encode(ARGV[9]) .. ',"jobs":{{' .. table.concat(outcomes, ',') .. '}}}}')
return #outcomes
"""

# KEYS: the deadline index, then the jobs' keys. ARGV: the finish time, the finished jobs'
# deadline, the error, the done channel, the task id. Ends the open jobs as failed. A key
# that is not a job record (missing, another type) is skipped rather than fatal: the other
# jobs of the task still end.
FAIL_JOBS_LUA = f"""
local outcomes = {{}}
local failed = ':{{"status":"{JobStatus.FAILED}","error":' .. cjson.encode(ARGV[3]) .. '}}'
for i = 2, #KEYS do
  local key = KEYS[i]
  if redis.call('TYPE', key)['ok'] == 'hash' then
    local status = redis.call('HGET', key, '{JobField.STATUS}')
    if {_OPEN} then
      redis.call('HSET', key, '{JobField.STATUS}', '{JobStatus.FAILED}',
        '{JobField.FINISHED_AT}', ARGV[1], '{JobField.ERROR}', ARGV[3])
      local id = {lua_job_id("key")}
      redis.call('ZADD', KEYS[1], ARGV[2], id)
      outcomes[#outcomes + 1] = cjson.encode(id) .. failed
    end
  end
end
redis.call('PUBLISH', ARGV[4],
  '{{"task_id":' .. cjson.encode(ARGV[5]) .. ',"jobs":{{' .. table.concat(outcomes, ',') .. '}}}}')
return #outcomes
"""


@dataclass(frozen=True)
class Runtime:
    settings: WorkerSettings
    model: LoadedModel
    redis: redis.Redis
    mark_running: Script
    record_results: Script


_model: LoadedModel | None = None
_runtime: Runtime | None = None


def preload_model(settings: WorkerSettings) -> LoadedModel:
    """Load the model in the worker's main process, before the pool forks.

    Every pool process then shares it (copy-on-write), and a model that cannot load stops
    the worker at start instead of failing each task.
    """
    global _model
    _model = load_model(settings.model_dir)
    return _model


def init(settings: WorkerSettings) -> Runtime:
    global _runtime
    if _runtime is None:
        client = redis.Redis.from_url(settings.broker_url, socket_timeout=5.0)
        _runtime = Runtime(
            settings=settings,
            model=_model if _model is not None else load_model(settings.model_dir),
            redis=client,
            mark_running=client.register_script(MARK_RUNNING_LUA),
            record_results=client.register_script(RECORD_RESULTS_LUA),
        )
    return _runtime


def get(settings: WorkerSettings) -> Runtime:
    """The process's runtime; made on first use where no fork happens (solo pool)."""
    return _runtime if _runtime is not None else init(settings)
