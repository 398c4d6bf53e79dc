"""A task that fails ends its jobs as failed, with a readable error, and wakes their waiters.

Whatever went wrong: the payload, the model, an error Redis answered, the soft time limit (all
in the pool process, from the task) or the hard time limit, which kills the pool process, so
the worker's main process ends the jobs (PredictRequest). The outcome message carries the task
id like a successful one: the gateway frees the task's slot at once. A task that lost Redis
itself leaves its jobs open for the task to be sent again (`store_lost`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from celery.exceptions import SoftTimeLimitExceeded
from celery.worker.request import Request

from contract import lua_scripts
from contract.tasks import readable_job_ids
from worker import process_state
from worker.model import ModelIntegrityError
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.task")

TIME_LIMIT_ERROR = "prediction failed: the task exceeded its time limit"
# Writing the failure survives a short loss of Redis; past it the jobs stay open until the
# gateway's sweeper times them out (JOB_TIMEOUT_SECONDS).
FAIL_ATTEMPTS = 3
FAIL_RETRY_PAUSE_SECONDS = 0.25


class InvalidTaskPayload(ValueError):
    """The task's arguments do not follow the contract (contract/tasks.py)."""


def public_error(exc: BaseException) -> str:
    """The job's error as clients see it: what failed, never paths or addresses."""
    if isinstance(exc, ModelIntegrityError):
        return "prediction failed: the model could not be loaded"
    if isinstance(exc, InvalidTaskPayload):
        return f"prediction failed: {exc}"
    if isinstance(exc, SoftTimeLimitExceeded):
        return TIME_LIMIT_ERROR
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return "prediction failed: the job store did not answer"
    if isinstance(exc, redis.RedisError):
        return f"prediction failed: the job store answered with an error ({type(exc).__name__})"
    return f"prediction failed: {type(exc).__name__}"


def store_lost(exc: BaseException) -> bool:
    """Whether the task failed for want of Redis, not for anything in its jobs: the connection
    lost or timed out, or a replica that a failover demoted refusing the write. Its jobs stay
    open: the gateway sends the task again when its outcome is overdue, and the sweeper ends
    them at JOB_TIMEOUT_SECONDS should nothing else."""
    return isinstance(exc, redis.ConnectionError | redis.TimeoutError | redis.ReadOnlyError)


def fail_jobs(settings: WorkerSettings, task_id: str, job_ids: list[str], error: str) -> None:
    """End the open ones of the jobs as failed and publish the task's outcome; never raises."""
    last: Exception | None = None
    for attempt in range(FAIL_ATTEMPTS):
        keys, args = lua_scripts.fail_jobs(job_ids, error, time.time(), task_id)
        try:
            failed = lua_scripts.ended(
                process_state.store(settings).fail_jobs(keys=keys, args=args)
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            last = exc
            time.sleep(FAIL_RETRY_PAUSE_SECONDS * (attempt + 1))
            continue
        except Exception as exc:
            last = exc
            break
        log.warning("task=%s jobs=%d failed error=%r", task_id, failed, error)
        return
    log.error("task=%s could not mark its %d jobs failed: %r", task_id, len(job_ids), last)


class PredictRequest(Request):  # type: ignore[misc]
    """Celery's request for the predict task: a task the hard time limit kills fails its jobs.

    The limit kills the pool process, so nothing of the task runs any more; Celery calls
    `on_timeout` in the worker's main process, which holds the task's arguments.
    """

    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        if soft:
            return  # raised inside the task (SoftTimeLimitExceeded), which fails its jobs
        args: Any = self.args
        jobs = args[0] if isinstance(args, list | tuple) and args else None
        fail_jobs(
            self.task.app.conf.irisq_settings, self.id, readable_job_ids(jobs), TIME_LIMIT_ERROR
        )
