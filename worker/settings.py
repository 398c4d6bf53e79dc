"""Worker settings, read once from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from contract.settings import SharedSettings


class WorkerSettings(SharedSettings):
    model_dir: Path = Path("model")
    # A task predicts at most MAX_ITEMS x coalesced jobs in milliseconds; these limits only
    # catch a stuck process. The visibility timeout must exceed the hard limit, or a slow
    # task would be handed to a second worker while the first still runs it.
    task_soft_time_limit: float = 20.0
    task_time_limit: float = 30.0
    visibility_timeout: float = 60.0
    # Celery execution pool. prefork runs tasks in a child process (a crashed or stuck task
    # never takes the worker down); solo runs them in the worker process itself.
    worker_pool: Literal["prefork", "solo", "threads"] = "prefork"
    # Tasks each worker process may reserve at once (Celery's prefetch multiplier). More can
    # leave a worker deaf to the broker's control messages after a Redis restart.
    prefetch_multiplier: int = Field(default=1, ge=1)
    # Processes per worker; scale out with more workers (compose replicas) rather than this.
    worker_concurrency: int = Field(default=1, ge=1)
    # Celery node name; %h is the host name. Workers sharing a host need distinct names.
    worker_name: str = "irisq@%h"
    # Prometheus metrics of all pool processes, served by the main one; port 0 turns them off.
    # Workers sharing a host need distinct ports; containers listen on 0.0.0.0.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9100, ge=0, le=65535)
    # Where the worker announces its metrics endpoint to Prometheus' file-based discovery
    # (worker.discovery); unset announces nothing (compose discovers replicas by DNS).
    worker_targets_dir: Path | None = None
    # Where pool processes keep their metric files (emptied at start, so never shared by two
    # workers); a fresh temporary directory when unset.
    prometheus_multiproc_dir: Path | None = None
