"""The one task: predict every item of every job in the batch with one model call."""

from __future__ import annotations

import logging
import time

import numpy as np
import orjson
from celery import Task, shared_task

from contract import (
    CANONICAL_DECIMALS,
    DONE_CHANNEL,
    JOB_DEADLINES_KEY,
    MODEL_KEY,
    MODEL_TTL_SECONDS,
    TASK_NAME,
    TaskJobs,
    cache_key_prefix,
    canonical_cache_key,
    canonical_key_suffixes,
    canonical_values,
    job_key,
    started_message,
)
from worker import metrics, runtime
from worker.failures import (
    InvalidTaskPayload,
    PredictRequest,
    fail_jobs,
    public_error,
    readable_job_ids,
)
from worker.model import FloatArray
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.task")

# Below this magnitude `canonical_key_suffixes` spells keys in one pass (a third faster on
# 3,000-row tasks); anything larger takes the exact way. Requests carry at most 100.
KEY_TEXT_MAX = 1e11


def _rows(jobs: TaskJobs) -> tuple[FloatArray, list[list[float]]]:
    """The items of every job, canonical, as the model's matrix and as rows for the keys."""
    try:
        items = [item for job in jobs for item in job["items"]]
        matrix = np.asarray(items)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidTaskPayload(f"malformed task payload: {exc}") from exc
    if matrix.ndim != 2 or matrix.shape[1] != 4 or matrix.dtype.kind not in "fiu":
        raise InvalidTaskPayload("each item must be four finite numbers")
    matrix = matrix.astype(np.float64, copy=False)
    if not np.isfinite(matrix).all():
        raise InvalidTaskPayload("each item must be four finite numbers")
    # The gateway sends canonical values already. numpy's rounding returns a value unchanged
    # exactly when it is canonical, at a fraction of the cost of Python's `round` per value
    # (which was a third of a worker's time on 100-item requests): then the payload's own
    # lists are the rows (rebuilding them from the matrix cost more than the check).
    # Anything else is canonicalised the exact way.
    if (np.round(matrix, CANONICAL_DECIMALS) == matrix).all():
        return matrix, items
    rows = [canonical_values(row) for row in items]
    return np.asarray(rows, dtype=np.float64), rows


def _cache_keys(matrix: FloatArray, rows: list[list[float]], version: str) -> list[str]:
    """The rows' cache keys; `rows` are canonical (from `_rows`)."""
    if len(rows) and np.abs(matrix).max() < KEY_TEXT_MAX:
        prefix = cache_key_prefix(version)
        return [prefix + suffix for suffix in canonical_key_suffixes(rows)]
    return [canonical_cache_key(values, version) for values in rows]


ITEM_START = b'{"prediction":'


def _item_results(classes: list[str], proba: FloatArray) -> list[bytes]:
    """Each row's result as JSON bytes, from one orjson call for the whole task.

    One call and a split cost half as much as a call per item (3,000-row tasks). Items start
    with ITEM_START and, in JSON, that text can begin nowhere else (a quote inside a string
    is escaped), so splitting on it gives each item's exact bytes.
    """
    # Plain Python numbers in bulk: far cheaper than converting numpy scalars one by one.
    indices = proba.argmax(axis=1).tolist()
    items = [
        {
            "prediction": classes[index],
            "class_index": index,
            "probabilities": dict(zip(classes, probabilities, strict=True)),
        }
        for index, probabilities in zip(indices, proba.tolist(), strict=True)
    ]
    parts = orjson.dumps(items)[1:-1].split(b"," + ITEM_START)
    return [parts[0], *(ITEM_START + part for part in parts[1:])] if items else []


def _job_ids(jobs: TaskJobs) -> list[str]:
    """Every job's id; a payload that is no list of jobs, each with an id, is refused."""
    if not isinstance(jobs, list):
        raise InvalidTaskPayload("malformed task payload: not a list of jobs")
    ids = readable_job_ids(jobs)
    if len(ids) != len(jobs):
        raise InvalidTaskPayload("malformed task payload: a job without an id")
    return ids


class PredictTask(Task):  # type: ignore[misc]
    Request = PredictRequest


@shared_task(name=TASK_NAME, bind=True, base=PredictTask)
def predict(self: Task, jobs: TaskJobs) -> dict[str, int]:
    settings: WorkerSettings = self.app.conf.irisq_settings
    task_id: str = self.request.id
    try:
        return _predict(task_id, jobs, settings)
    except Exception as exc:
        log.exception("task=%s prediction failed", task_id)
        fail_jobs(settings, task_id, readable_job_ids(jobs), public_error(exc))
        raise


def _predict(task_id: str, jobs: TaskJobs, settings: WorkerSettings) -> dict[str, int]:
    started = time.time()
    rt = runtime.get(settings)
    job_ids = _job_ids(jobs)
    job_keys = [job_key(job_id) for job_id in job_ids]
    # Only the jobs still open run: a finished job is never changed (a task run again).
    open_positions = rt.mark_running(
        keys=job_keys, args=[started, DONE_CHANNEL, started_message(task_id), task_id]
    )
    if len(open_positions) != len(jobs):
        jobs = [jobs[i - 1] for i in open_positions]
        job_keys = [job_keys[i - 1] for i in open_positions]
        if not jobs:
            log.info("task=%s jobs=0: every job already finished", task_id)
            return {"jobs": 0, "items": 0}

    matrix, rows = _rows(jobs)
    metrics.observe_task_size(jobs=len(jobs), items=len(rows))
    with metrics.INFERENCE_SECONDS.time():
        proba = rt.model.predict_proba(matrix)

    metadata = rt.model.metadata
    version = metadata.version
    finished = time.time()
    # Each result is serialised once: the cache entry, the job's record and the done message
    # (built by the script) all use these bytes.
    item_json = _item_results(metadata.classes, proba)
    job_results: list[bytes] = []
    row = 0
    for job in jobs:
        end = row + len(job["items"])
        job_results.append(b"[" + b",".join(item_json[row:end]) + b"]")
        row = end
    args: list[bytes | str | int | float] = [
        len(jobs),
        settings.cache_ttl_seconds,
        finished,
        finished + settings.job_ttl_seconds,
        MODEL_TTL_SECONDS,
        version,
        rt.model.metadata_json,
        DONE_CHANNEL,
        task_id,
        rt.model.version_json,
        *job_results,
        *item_json,
    ]
    keys = [MODEL_KEY, JOB_DEADLINES_KEY, *job_keys, *_cache_keys(matrix, rows, version)]
    # One command: the records, the cache entries, the model announcement, then the message.
    rt.record_results(keys=keys, args=args)
    log.info(
        "task=%s jobs=%d items=%d model=%s seconds=%.4f",
        task_id,
        len(jobs),
        row,
        version,
        finished - started,
    )
    return {"jobs": len(jobs), "items": row}
