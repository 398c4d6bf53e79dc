"""Per-process state of a worker: the model and a Redis client, made once after the fork."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from redis.commands.core import Script

from worker.model import LoadedModel, load_model
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.worker")


# KEYS: cache keys; ARGV: the TTL, then one value per key. SET EX for each, server-side.
CACHE_WRITE_LUA = """
local ttl = ARGV[1]
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ttl)
end
return #KEYS
"""


@dataclass(frozen=True)
class Runtime:
    settings: WorkerSettings
    model: LoadedModel
    redis: redis.Redis
    cache_writer: Script


_runtime: Runtime | None = None


def init(settings: WorkerSettings) -> Runtime:
    global _runtime
    if _runtime is None:
        client = redis.Redis.from_url(settings.broker_url, socket_timeout=5.0)
        _runtime = Runtime(
            settings=settings,
            model=load_model(settings.model_dir),
            redis=client,
            cache_writer=client.register_script(CACHE_WRITE_LUA),
        )
    return _runtime


def get(settings: WorkerSettings) -> Runtime:
    """The process's runtime; made on first use where no fork happens (solo pool)."""
    return _runtime if _runtime is not None else init(settings)
