"""The one task: predict every item of every job in the batch with one model call."""

from __future__ import annotations

import logging
import time

import numpy as np
import orjson
from celery import Task, shared_task

from contract import scripts
from contract.cache_keys import (
    CANONICAL_DECIMALS,
    FAST_SPELLING_MAX,
    cache_key_prefix,
    canonical_values,
    key_suffix,
    key_suffixes,
)
from contract.tasks import TASK_NAME, TaskPayload, readable_job_ids
from worker import metrics, runtime
from worker.failures import InvalidTaskPayload, PredictRequest, fail_jobs, public_error
from worker.model import FloatArray
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.task")


def _rows(jobs: TaskPayload) -> tuple[FloatArray, list[list[float]]]:
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
    # The gateway sends canonical values, which numpy's round leaves as they are: checking
    # that costs far less than Python's `round` per value, and the payload's own lists are
    # then the rows. Anything else is made canonical the exact way, as a cached answer is
    # the model's answer for its key's values.
    if (np.round(matrix, CANONICAL_DECIMALS) == matrix).all():
        return matrix, items
    rows = [canonical_values(row) for row in items]
    return np.asarray(rows, dtype=np.float64), rows


def _cache_keys(matrix: FloatArray, rows: list[list[float]], version: str) -> list[str]:
    """The rows' cache keys; `rows` are canonical (from `_rows`)."""
    prefix = cache_key_prefix(version)
    if len(rows) and np.abs(matrix).max() < FAST_SPELLING_MAX:
        return [prefix + suffix for suffix in key_suffixes(rows)]
    return [prefix + key_suffix(row) for row in rows]


def _item_results(classes: list[str], proba: FloatArray) -> list[bytes]:
    """Each row's result as JSON bytes: the cache entry, the record and the outcome use them."""
    # Plain Python numbers in bulk: far cheaper than converting numpy scalars one by one.
    indices = proba.argmax(axis=1).tolist()
    return [
        orjson.dumps(
            {
                "prediction": classes[index],
                "class_index": index,
                "probabilities": dict(zip(classes, probabilities, strict=True)),
            }
        )
        for index, probabilities in zip(indices, proba.tolist(), strict=True)
    ]


def _job_ids(jobs: TaskPayload) -> list[str]:
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
def predict(self: Task, jobs: TaskPayload) -> dict[str, int]:
    settings: WorkerSettings = self.app.conf.irisq_settings
    task_id: str = self.request.id
    try:
        return _predict(task_id, jobs, settings)
    except Exception as exc:
        log.exception("task=%s prediction failed", task_id)
        fail_jobs(settings, task_id, readable_job_ids(jobs), public_error(exc))
        raise


def _predict(task_id: str, jobs: TaskPayload, settings: WorkerSettings) -> dict[str, int]:
    started = time.time()
    store = runtime.store(settings)
    model = runtime.model(settings)
    job_ids = _job_ids(jobs)
    # Only the jobs still open run: a finished job is never changed (a task run again).
    keys, args = scripts.mark_running(job_ids, started, task_id)
    open_positions = store.mark_running(keys=keys, args=args)
    if len(open_positions) != len(jobs):
        jobs = [jobs[i - 1] for i in open_positions]
        job_ids = [job_ids[i - 1] for i in open_positions]
        if not jobs:
            log.info("task=%s jobs=0: every job already finished", task_id)
            return {"jobs": 0, "items": 0}

    matrix, rows = _rows(jobs)
    metrics.observe_task_size(jobs=len(jobs), items=len(matrix))
    with metrics.INFERENCE_SECONDS.time():
        proba = model.predict_proba(matrix)

    version = model.metadata.version
    finished = time.time()
    item_results = _item_results(model.metadata.classes, proba)
    job_results: list[bytes] = []
    # The rows whose results are cached: every job's but those the gateway's size policy
    # keeps out of the cache (contract/tasks.py).
    cached_rows: list[int] = []
    row = 0
    for job in jobs:
        end = row + len(job["items"])
        job_results.append(b"[" + b",".join(item_results[row:end]) + b"]")
        if job.get("cache", True):
            cached_rows.extend(range(row, end))
        row = end
    if len(cached_rows) < row:
        matrix, rows = matrix[cached_rows], [rows[i] for i in cached_rows]
        item_results = [item_results[i] for i in cached_rows]
    keys, args = scripts.record_results(
        task_id=task_id,
        job_ids=job_ids,
        job_results=job_results,
        cache_keys=_cache_keys(matrix, rows, version),
        item_results=item_results,
        finished=finished,
        job_ttl_seconds=settings.job_ttl_seconds,
        cache_ttl_seconds=settings.cache_ttl_seconds,
        model_version=version,
        model_version_json=model.version_json,
        model_metadata_json=model.metadata_json,
    )
    # One call: the records, the cache entries, the model announcement, then the message.
    store.record_results(keys=keys, args=args)
    log.info(
        "task=%s jobs=%d items=%d model=%s seconds=%.4f",
        task_id,
        len(jobs),
        row,
        version,
        finished - started,
    )
    return {"jobs": len(jobs), "items": row}
