"""The one task: predict every item of every job in the batch with one model call."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import orjson
import redis
from celery import Task, shared_task

from contract import (
    CANONICAL_DECIMALS,
    DONE_CHANNEL,
    MODEL_KEY,
    MODEL_TTL_SECONDS,
    TASK_NAME,
    JobField,
    JobStatus,
    TaskJobs,
    cache_key_prefix,
    canonical_cache_key,
    canonical_key_suffixes,
    canonical_values,
    job_key,
    started_message,
)
from worker import metrics, runtime
from worker.model import FloatArray, ModelIntegrityError
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.task")

# Below this magnitude `canonical_key_suffixes` spells keys in one pass (a third faster on
# 3,000-row tasks); anything larger takes the exact way. Requests carry at most 100.
KEY_TEXT_MAX = 1e11


class InvalidTaskPayload(ValueError):
    """The task's arguments do not follow the contract."""


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


def _public_error(exc: BaseException) -> str:
    # Job errors are shown to clients: say what failed, never paths or addresses.
    if isinstance(exc, ModelIntegrityError):
        return "prediction failed: the model could not be loaded"
    if isinstance(exc, InvalidTaskPayload):
        return f"prediction failed: {exc}"
    return f"prediction failed: {type(exc).__name__}"


def _publish_failure(rt_redis: Any, settings: WorkerSettings, jobs: TaskJobs, error: str) -> None:
    now = time.time()
    pipe = rt_redis.pipeline(transaction=False)
    for job in jobs:
        key = job_key(job["job_id"])
        pipe.hset(
            key,
            mapping={
                JobField.STATUS: JobStatus.FAILED,
                JobField.FINISHED_AT: now,
                JobField.ERROR: error,
            },
        )
        pipe.expire(key, settings.job_ttl_seconds)
    message = {
        "jobs": {job["job_id"]: {"status": JobStatus.FAILED, "error": error} for job in jobs}
    }
    pipe.publish(DONE_CHANNEL, orjson.dumps(message))
    pipe.execute()


@shared_task(name=TASK_NAME, bind=True)
def predict(self: Task, jobs: TaskJobs) -> dict[str, int]:
    settings: WorkerSettings = self.app.conf.irisq_settings
    started = time.time()
    try:
        rt = runtime.get(settings)
    except ModelIntegrityError as exc:
        # No Redis client without a runtime: make a short-lived one to record the failure.
        log.error("task=%s model unavailable: %s", self.request.id, exc)
        with redis.Redis.from_url(settings.broker_url, socket_timeout=5.0) as client:
            _publish_failure(client, settings, jobs, _public_error(exc))
        raise

    job_keys = [job_key(job["job_id"]) for job in jobs]
    rt.mark_running(keys=job_keys, args=[started, DONE_CHANNEL, started_message(self.request.id)])

    try:
        matrix, rows = _rows(jobs)
        metrics.observe_task_size(jobs=len(jobs), items=len(rows))
        with metrics.INFERENCE_SECONDS.time():
            proba = rt.model.predict_proba(matrix)
    except Exception as exc:
        log.exception("task=%s jobs=%s prediction failed", self.request.id, len(jobs))
        _publish_failure(rt.redis, settings, jobs, _public_error(exc))
        raise

    metadata = rt.model.metadata
    classes = metadata.classes
    version = metadata.version
    finished = time.time()
    # Each result is serialised once: the cache entry, the job's record and the done message
    # all reuse these bytes (orjson.Fragment embeds them as they are).
    item_json = _item_results(classes, proba)
    done: dict[str, Any] = {}
    job_results: list[bytes] = []
    row = 0
    for job in jobs:
        end = row + len(job["items"])
        results = b"[" + b",".join(item_json[row:end]) + b"]"
        row = end
        job_results.append(results)
        done[job["job_id"]] = {
            "status": JobStatus.DONE,
            "model_version": version,
            "results": orjson.Fragment(results),
        }
    message = orjson.dumps({"task_id": self.request.id, "jobs": done})
    args: list[bytes | str | int | float] = [
        len(jobs),
        settings.cache_ttl_seconds,
        settings.job_ttl_seconds,
        MODEL_TTL_SECONDS,
        finished,
        version,
        rt.model.metadata_json,
        DONE_CHANNEL,
        message,
        *job_results,
        *item_json,
    ]
    keys = [MODEL_KEY, *job_keys, *_cache_keys(matrix, rows, version)]
    # One command: the records, the cache entries, the model announcement, then the message.
    rt.record_results(keys=keys, args=args)
    log.info(
        "task=%s jobs=%d items=%d model=%s seconds=%.4f",
        self.request.id,
        len(jobs),
        row,
        version,
        finished - started,
    )
    return {"jobs": len(jobs), "items": row}
