"""Per-process state of a worker: the model (loaded before the fork) and its Redis scripts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import redis
from redis.commands.core import Script as RedisScript

from contract.lua_scripts import Script, source
from worker.model import LoadedModel, load_model
from worker.registry import served_dir
from worker.serving import ServingSet
from worker.settings import WorkerSettings


def redis_client(settings: WorkerSettings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_dsn, socket_timeout=settings.redis_timeout_seconds)


@dataclass(frozen=True)
class Store:
    """This process's Redis client and the scripts a task runs on it."""

    redis: redis.Redis
    mark_running: RedisScript
    record_results: RedisScript
    fail_jobs: RedisScript
    pid: int = field(default_factory=os.getpid)


_model: LoadedModel | None = None
_store: Store | None = None
_serving: ServingSet | None = None


def preload_model(settings: WorkerSettings) -> LoadedModel:
    """Load the served model in the worker's main process, before the pool forks.

    Every pool process then shares it (copy-on-write), and a model that cannot load stops
    the worker at start instead of failing each task. A promotion later reaches each pool
    process through its `serving` set, without a restart.
    """
    global _model
    _model = load_model(served_dir(settings.model_dir))
    return _model


def model(settings: WorkerSettings) -> LoadedModel:
    """The model; loaded on first use where no worker start preloaded it (tests, bench)."""
    return _model if _model is not None else preload_model(settings)


def serving(settings: WorkerSettings) -> ServingSet:
    """The versions this process answers with, following the rollout from its own thread.

    Made in the pool process, never before the fork: a thread does not survive one.
    """
    global _serving
    if _serving is None or _serving.pid != os.getpid():
        _serving = ServingSet.serving(settings.model_dir, model(settings))
        _serving.start(redis_client(settings))
    return _serving


def store(settings: WorkerSettings) -> Store:
    """This process's store; a process forked from one that had a store makes its own.

    Independent of the model: a task whose model cannot load still ends its jobs.
    """
    global _store
    if _store is None or _store.pid != os.getpid():
        client = redis_client(settings)
        _store = Store(
            redis=client,
            mark_running=client.register_script(source(Script.MARK_RUNNING)),
            record_results=client.register_script(source(Script.RECORD_RESULTS)),
            fail_jobs=client.register_script(source(Script.FAIL_JOBS)),
        )
    return _store
