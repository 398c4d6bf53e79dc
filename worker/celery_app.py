"""The Celery app, built from WorkerSettings.

`celery -A worker.celery_app worker` needs a module-level app; building it connects to
nothing (Celery is lazy), and the model and Redis client are made per process after the fork.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from typing import Any

from celery import Celery
from celery.signals import heartbeat_sent, worker_init, worker_process_init, worker_ready

from contract.broker import register_task_serializer
from worker import fenced_internals, process_state
from worker.celery_conf import celery_conf
from worker.events import BatchedTaskEvents
from worker.model import ModelIntegrityError
from worker.registry_mirror import RegistryMirror
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.worker")

PER_TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")
# Allocations between young-generation collections; Python's default is 700. A 3,000-row
# task allocates tens of thousands of objects, each collection walking the young ones.
GC_GEN0_THRESHOLD = 50_000
# EX_CONFIG: the model directory is unusable; restarting the worker would not help.
REFUSED_EXIT_CODE = 78


def _freeze_long_lived() -> None:
    """Keep the objects that live as long as the process out of every GC pass.

    A full collection walks the ~140,000 objects of Celery, scikit-learn and the model, and
    large tasks allocate enough to trigger one every few tasks.
    """
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 50, 100)


def create_celery_app(settings: WorkerSettings) -> Celery:
    register_task_serializer()
    app = Celery("irisq", broker=settings.redis_dsn)
    app.conf.update(celery_conf(settings))
    app.steps["consumer"].add(BatchedTaskEvents)
    app.conf.irisq_settings = settings
    app.autodiscover_tasks(["worker"], related_name="tasks", force=True)
    return app


app = create_celery_app(WorkerSettings())


@worker_init.connect
def _refuse_bad_model(sender: Any = None, **_: Any) -> None:
    """Load the model in the main process, before any child forks: fail fast and loud."""
    settings: WorkerSettings = app.conf.irisq_settings
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(name)s %(message)s",
    )
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # Celery logs two lines a task at INFO (received; succeeded, with a repr of the
        # result), a large share of a small task's cost. The task logs its own line;
        # failures still come at ERROR; LOG_LEVEL=DEBUG keeps them all.
        for name in PER_TASK_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    fenced_internals.warn_if_unchecked()
    try:
        # The whole model, in this process, before any fork: a worker that could not predict
        # never announces itself ready.
        model = process_state.preload_model(settings)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, ModelIntegrityError) else repr(exc)
        log.critical("refusing to start: %s", reason.replace("\n", " "))
        sys.stdout.flush()
        sys.stderr.flush()
        # os._exit: Celery would otherwise catch SystemExit in the signal and carry on.
        os._exit(REFUSED_EXIT_CODE)
    log.info("serving model %s", model.metadata.version)


class _Mirror:
    """The main process's RegistryMirror, made once the model is known to load."""

    mirror: RegistryMirror | None = None

    @classmethod
    def sync(cls, force: bool = False) -> None:
        if cls.mirror is None:
            settings: WorkerSettings = app.conf.irisq_settings
            cls.mirror = RegistryMirror(settings.model_dir, process_state.redis_client(settings))
        cls.mirror.sync(force)


@worker_ready.connect
def _announce_on_ready(**_: Any) -> None:
    _Mirror.sync(force=True)
    _freeze_long_lived()  # the main process: after its consumer and pool are up


@heartbeat_sent.connect
def _announce_on_heartbeat(**_: Any) -> None:
    _Mirror.sync()


@worker_process_init.connect
def _start_per_process(**_: Any) -> None:
    settings: WorkerSettings = app.conf.irisq_settings
    process_state.store(settings)
    # Follows the rollout from here on, and marks the versions this process answers with.
    process_state.serving(settings)
    _freeze_long_lived()
