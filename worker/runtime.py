"""Per-process state of a worker: the model and a Redis client, made once after the fork."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis

from worker.model import LoadedModel, load_model
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.worker")


@dataclass(frozen=True)
class Runtime:
    settings: WorkerSettings
    model: LoadedModel
    redis: redis.Redis


_runtime: Runtime | None = None


def init(settings: WorkerSettings) -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(
            settings=settings,
            model=load_model(settings.model_dir),
            redis=redis.Redis.from_url(settings.broker_url, socket_timeout=5.0),
        )
    return _runtime


def get(settings: WorkerSettings) -> Runtime:
    """The process's runtime; made on first use where no fork happens (solo pool)."""
    return _runtime if _runtime is not None else init(settings)
