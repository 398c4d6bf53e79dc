"""Worker settings, read once from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract import redis_url


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    redis_url: str | None = Field(default=None, description="Overrides REDIS_HOST/PORT/PASSWORD")
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_password: str | None = None
    redis_db: int = 0
    model_dir: Path = Path("model")
    cache_ttl_seconds: int = Field(default=3600, gt=0)
    job_ttl_seconds: int = Field(default=86400, gt=0)
    # A task predicts at most MAX_ITEMS x coalesced jobs in milliseconds; these limits only
    # catch a stuck process. The visibility timeout must exceed the hard limit, or a slow
    # task would be handed to a second worker while the first still runs it.
    task_soft_time_limit: float = 20.0
    task_time_limit: float = 30.0
    visibility_timeout: float = 60.0
    result_expires_seconds: int = 3600
    log_level: str = "INFO"
    # Celery execution pool. prefork runs tasks in a child process (a crashed or stuck task
    # never takes the worker down); solo runs them in the worker process itself.
    worker_pool: Literal["prefork", "solo", "threads"] = "prefork"
    # Tasks each worker process may reserve at once (Celery's prefetch multiplier). 2 measured
    # a little faster (docs/performance.md) but, in 2 of 7 runs of the Redis-restart fault
    # test, left workers deaf to the broker's control messages after Redis came back: 1 it is.
    prefetch_multiplier: int = Field(default=1, ge=1)
    # Processes per worker; scale out with more workers (compose replicas) rather than this.
    worker_concurrency: int = Field(default=1, ge=1)
    # Celery node name; %h is the host name. Workers sharing a host need distinct names.
    worker_name: str = "irisq@%h"
    # Prometheus metrics of all pool processes, served by the main one; port 0 turns them off.
    # Workers sharing a host need distinct ports; containers listen on 0.0.0.0.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9100, ge=0, le=65535)
    # Where pool processes keep their metric files (emptied at start, so never shared by two
    # workers); a fresh temporary directory when unset.
    prometheus_multiproc_dir: Path | None = None

    @property
    def broker_url(self) -> str:
        return redis_url(
            self.redis_url, self.redis_host, self.redis_port, self.redis_password, self.redis_db
        )
