"""Prometheus metrics of a worker: counted in every pool process, served by the main one.

Celery's prefork children are separate processes, so in `python -m worker` their values live
in prometheus_client's multiprocess files (see worker.metrics_dir) and the main process
serves the sum of all of them on WORKER_METRICS_HOST:WORKER_METRICS_PORT.

A process's live gauges (the model info) must go when it does: prometheus_client's public
`mark_process_dead(pid)` removes them, given the pid. A pool process says so itself when it
exits in order; for one killed outright (SIGKILL, the OOM killer), each process leaves a mark
of its own, `<pid>.live`, beside its files before its first live gauge, and the main process
forgets the marked processes that are gone whenever it serves. The pids come from these marks,
not from the library's file names, which are not its API.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from celery.signals import (
    task_failure,
    task_success,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from contract.model import ModelMetadata
from worker import discovery
from worker.metrics_dir import ENV_VAR
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.metrics")

# Served as is only without a multiprocess directory (solo pool, in-process tests); with one,
# every process writes its values to files and the served registry reads them all.
REGISTRY = CollectorRegistry(auto_describe=True)

INFERENCE_SECONDS = Histogram(
    "irisq_worker_inference_seconds",
    "Time the model took to predict all items of one task, by the version that predicted",
    ["model_version"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
    registry=REGISTRY,
)
ITEMS_PER_TASK = Histogram(
    "irisq_worker_items_per_task",
    "Items predicted in one task (all its jobs together)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
    registry=REGISTRY,
)
JOBS_PER_TASK = Histogram(
    "irisq_worker_jobs_per_task",
    "Jobs carried by one task (the gateway coalesces concurrent requests)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
    registry=REGISTRY,
)
TASKS = Counter(
    "irisq_worker_tasks",
    "Tasks finished by this worker, by outcome (success or failure)",
    ["outcome"],
    registry=REGISTRY,
)
# 1 per model version loaded by a live pool process. "livemax": a process marked dead takes
# its version with it, so a retrained model does not leave the old version showing.
MODEL_INFO = Gauge(
    "irisq_worker_model_info",
    "Model loaded by the worker's pool processes (value 1), labelled with its version",
    ["name", "version"],
    multiprocess_mode="livemax",
    registry=REGISTRY,
)

# Beside TASKS (counted from Celery's signals, a time limit included): by the version a task
# ran on, so a canary's failures show beside the served version's.
VERSION_TASKS = Counter(
    "irisq_worker_version_tasks",
    "Tasks that ran on a model version, by version and outcome (success or failure)",
    ["model_version", "outcome"],
    registry=REGISTRY,
)
MODEL_LOAD_FAILURES = Counter(
    "irisq_worker_model_load_failures",
    "Versions a pool process could not load when the rollout named them (it keeps the one it had)",
    ["version"],
    registry=REGISTRY,
)

# Input drift and class mix by version, counted by worker.drift (which says why bins as
# counters): 40 series per version with deciles, one per class.
FEATURE_BINS = Counter(
    "irisq_worker_feature_bin",
    "Inputs by feature and by the bin of their model version's training deciles they fall in "
    "(bin 0-9, each holding a tenth of the training rows)",
    ["model_version", "feature", "bin"],
    registry=REGISTRY,
)
PREDICTIONS = Counter(
    "irisq_worker_predictions",
    "Items predicted, by model version and predicted class",
    ["model_version", "class"],
    registry=REGISTRY,
)

# Beside the `.db` files, which are all prometheus_client reads there.
LIVE_MARK_SUFFIX = ".live"

# Both outcomes exist from the start, so rates and ratios have a series before any failure.
for _outcome in ("success", "failure"):
    TASKS.labels(_outcome)


def observe_task_size(jobs: int, items: int) -> None:
    JOBS_PER_TASK.observe(jobs)
    ITEMS_PER_TASK.observe(items)


def record_model(metadata: ModelMetadata) -> None:
    _mark_live_process()
    MODEL_INFO.labels(metadata.name, metadata.version).set(1)


class _HasMetadata(Protocol):
    @property
    def metadata(self) -> ModelMetadata: ...


def record_answering(now: Sequence[_HasMetadata], before: Sequence[_HasMetadata]) -> None:
    """The versions this process answers with are 1, those it stopped answering with 0."""
    versions = {model.metadata.version for model in now}
    for model in before:
        if model.metadata.version not in versions:
            MODEL_INFO.labels(model.metadata.name, model.metadata.version).set(0)
    for model in now:
        record_model(model.metadata)


def _count_success(**_: Any) -> None:
    TASKS.labels("success").inc()


def _count_failure(**_: Any) -> None:
    # Sent in the child for an exception, in the main process for a time limit; both count.
    TASKS.labels("failure").inc()


def _files_dir() -> Path | None:
    directory = os.environ.get(ENV_VAR)
    return Path(directory) if directory else None


def _live_mark(directory: Path, pid: int) -> Path:
    """The file that says process `pid` may hold live gauges in `directory`."""
    return directory / f"{pid}{LIVE_MARK_SUFFIX}"


def _mark_live_process() -> None:
    directory = _files_dir()
    if directory is not None:
        _live_mark(directory, os.getpid()).touch()


def _forget_child(pid: int | None = None, **_: Any) -> None:
    """A pool child leaving: its live gauges (the model info) go with it; counts stay."""
    directory = _files_dir()
    if directory is not None:
        pid = pid or os.getpid()
        mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
        _live_mark(directory, pid).unlink(missing_ok=True)


def _forget_dead_processes(directory: Path) -> None:
    """Remove the live gauges of every marked process that is gone."""
    for mark in directory.glob(f"*{LIVE_MARK_SUFFIX}"):
        pid = mark.name.removesuffix(LIVE_MARK_SUFFIX)
        if not pid.isdigit() or discovery.process_alive(int(pid)):
            continue
        try:
            # Whoever removes the mark forgets the process: concurrent scrapes never both do.
            mark.unlink()
        except FileNotFoundError:
            continue
        mark_process_dead(int(pid), str(directory))  # type: ignore[no-untyped-call]


class _LiveProcessesCollector:
    """The multiprocess files' sum, after forgetting processes that died without notice.

    A child killed by SIGKILL or the OOM killer never runs its shutdown hook; its live gauges
    would otherwise stay forever.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        _forget_dead_processes(self.directory)
        metrics: Iterable[Metric] = self.files.collect()  # type: ignore[no-untyped-call]
        return metrics


def served_registry() -> CollectorRegistry:
    directory = os.environ.get(ENV_VAR)
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    registry.register(_LiveProcessesCollector(Path(directory)))
    return registry


class _Server:
    server: Any = None
    # This worker's file in WORKER_TARGETS_DIR, while it serves.
    target: Path | None = None


def _serve(sender: Any = None, **_: Any) -> None:
    """Serve from the main process, after the pool forked: children never hold the socket."""
    settings: WorkerSettings = sender.app.conf.irisq_settings
    if settings.worker_metrics_port == 0:
        return
    if not os.environ.get(ENV_VAR):
        log.warning("no %s: only this process's own values are served", ENV_VAR)
    try:
        _Server.server, _thread = start_http_server(
            settings.worker_metrics_port, settings.worker_metrics_host, served_registry()
        )
    except OSError as exc:
        # The worker still serves predictions; its monitoring shows it down, which it says.
        log.error(
            "cannot serve metrics on %s:%d: %s",
            settings.worker_metrics_host,
            settings.worker_metrics_port,
            exc,
        )
        return
    log.info(
        "metrics on http://%s:%d/metrics",
        settings.worker_metrics_host,
        settings.worker_metrics_port,
    )
    if settings.worker_targets_dir is not None:
        try:
            _Server.target = discovery.announce(
                settings.worker_targets_dir,
                sender.hostname,
                settings.worker_metrics_host,
                settings.worker_metrics_port,
            )
        except OSError as exc:
            # As above: predictions go on; Prometheus just does not find this worker.
            log.error("cannot announce the metrics in %s: %s", settings.worker_targets_dir, exc)
            return
        log.info("announced to Prometheus in %s", _Server.target)


def _stop_serving(**_: Any) -> None:
    if _Server.target is not None:
        discovery.withdraw(_Server.target)
        _Server.target = None
    if _Server.server is not None:
        _Server.server.shutdown()
        _Server.server.server_close()
        _Server.server = None


# Celery keeps weak references: these module-level functions live as long as the module.
task_success.connect(_count_success)
task_failure.connect(_count_failure)
worker_process_shutdown.connect(_forget_child)
worker_ready.connect(_serve)
worker_shutdown.connect(_stop_serving)
