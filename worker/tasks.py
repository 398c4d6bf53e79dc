"""The one task: predict every item of every job in the batch with one model call."""

from __future__ import annotations

import functools
import logging
import time

import numpy as np
import orjson
from celery import Task, shared_task

from contract import lua_scripts
from contract.answers import ItemTemplates
from contract.cache_keys import FAST_SPELLING_MAX, cache_key_prefix, key_suffix, key_suffixes
from contract.http import FEATURES
from contract.tasks import (
    ROW_BYTES,
    ROW_DTYPE,
    TASK_NAME,
    TaskPayload,
    readable_job_ids,
    unpack_rows,
)
from worker import drift, metrics, process_state
from worker.failures import (
    InvalidTaskPayload,
    PredictRequest,
    fail_jobs,
    public_error,
    store_lost,
)
from worker.model import FloatArray, LoadedModel
from worker.rows import canonical_matrix
from worker.settings import WorkerSettings

log = logging.getLogger("irisq.task")


def _rows(jobs: TaskPayload) -> tuple[FloatArray, list[int]]:
    """The rows of every job as the model's matrix, canonical (contract/cache_keys.py), and
    how many rows each job has.

    A cached answer is the model's answer for its key's values, so every row is rounded as
    the keys round it, whether the gateway rounded it already or not (contract/tasks.py).
    """
    try:
        parts = [unpack_rows(job["rows"]) for job in jobs]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidTaskPayload(f"malformed task payload: {exc}") from exc
    counts = [len(part) // ROW_BYTES for part in parts]
    matrix = np.frombuffer(b"".join(parts), dtype=ROW_DTYPE).reshape(-1, len(FEATURES))
    # In the machine's own byte order (no copy where that is little-endian).
    matrix = matrix.astype(np.float64, copy=False)
    if not np.isfinite(matrix).all():
        raise InvalidTaskPayload("each item must be four finite numbers")
    return canonical_matrix(matrix), counts


def _cache_keys(matrix: FloatArray, version: str) -> list[str]:
    """The cache keys of canonical rows (from `_rows`)."""
    prefix = cache_key_prefix(version)
    rows = matrix.tolist()
    if len(rows) and np.abs(matrix).max() < FAST_SPELLING_MAX:
        return [prefix + suffix for suffix in key_suffixes(rows)]
    return [prefix + key_suffix(row) for row in rows]


# Once per model's classes, not per task: building them costs as much as filling a 10-row
# task's results.
@functools.lru_cache(maxsize=4)
def _item_templates(classes: tuple[str, ...]) -> ItemTemplates:
    return ItemTemplates(classes)


class _ResultsJson:
    """A task's results as JSON: rows each alone, for the cache, or a run of rows as one list.

    One orjson call writes every probability and one `%` per run puts them in place: a
    quarter of the cost of an `orjson.dumps` per result dict on large jobs, the hot case.
    """

    def __init__(self, classes: list[str], proba: FloatArray) -> None:
        templates = _item_templates(tuple(classes))
        heads = templates.heads
        self._classes = classes
        self._entry, self._listed = templates.cache_entry, templates.computed_item
        self._indices = proba.argmax(axis=1)
        width = self._width = 1 + len(classes)  # a row's template arguments
        # orjson writes a numpy float64 as it writes the same Python float.
        probabilities = np.ascontiguousarray(proba, dtype=np.float64).ravel()
        text = orjson.dumps(probabilities, option=orjson.OPT_SERIALIZE_NUMPY)
        values = text[1:-1].split(b",") if proba.size else []
        # Each row's arguments side by side: its head, then its probabilities.
        args = [b""] * (width * len(proba))
        args[::width] = [heads[index] for index in self._indices.tolist()]
        for column in range(len(classes)):
            args[1 + column :: width] = values[column :: len(classes)]
        self._args = args

    def _text(self, start: int, end: int, row: bytes, separator: bytes) -> bytes:
        template = separator.join([row] * (end - start))
        return template % tuple(self._args[start * self._width : end * self._width])

    def json_list(self, start: int, end: int) -> bytes:
        """Rows `start` to `end` (exclusive) as a job's results: one JSON list."""
        return b"[" + self._text(start, end, self._listed, b",") + b"]"

    def each(self, start: int, end: int) -> list[bytes]:
        """Rows `start` to `end` (exclusive), each as its own JSON: cache entries."""
        # orjson writes no raw newline (it escapes one inside a string): it parts the rows.
        return self._text(start, end, self._entry, b"\n").split(b"\n") if end > start else []

    def counts(self, start: int, end: int) -> bytes:
        """How many of rows `start` to `end` (exclusive) predict each class, as JSON."""
        counts = np.bincount(self._indices[start:end], minlength=len(self._classes)).tolist()
        return orjson.dumps(
            {name: count for name, count in zip(self._classes, counts, strict=True) if count}
        )


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
        if store_lost(exc):
            # A network cut or a failover, not the jobs' fault: left open, they run again
            # when the gateway sends the task again (its outcome overdue).
            log.warning("task=%s lost the job store (%r); its jobs stay open", task_id, exc)
            raise
        log.exception("task=%s prediction failed", task_id)
        fail_jobs(settings, task_id, readable_job_ids(jobs), public_error(exc))
        raise


def _predict(task_id: str, jobs: TaskPayload, settings: WorkerSettings) -> dict[str, int]:
    started = time.time()
    store = process_state.store(settings)
    # The versions in force when the task starts: it runs wholly on the one drawn here.
    answering = process_state.serving(settings).answering
    model = answering.choose()
    job_ids = _job_ids(jobs)
    # Only the jobs still open run: a finished job is never changed (a task run again).
    keys, args = lua_scripts.mark_running(job_ids, started, task_id)
    open_positions = lua_scripts.still_open(store.mark_running(keys=keys, args=args))
    if len(open_positions) != len(jobs):
        jobs = [jobs[i] for i in open_positions]
        job_ids = [job_ids[i] for i in open_positions]
        if not jobs:
            log.info("task=%s jobs=0: every job already finished", task_id)
            return {"jobs": 0, "items": 0}

    try:
        return _predict_on(model, answering.served, task_id, jobs, job_ids, started, settings)
    except Exception:
        metrics.VERSION_TASKS.labels(model.metadata.version, "failure").inc()
        raise


def _predict_on(
    model: LoadedModel,
    served: LoadedModel,
    task_id: str,
    jobs: TaskPayload,
    job_ids: list[str],
    started: float,
    settings: WorkerSettings,
) -> dict[str, int]:
    """The still-open jobs of a task predicted by `model`, recorded, and announced."""
    store = process_state.store(settings)
    matrix, counts = _rows(jobs)
    metrics.observe_task_size(jobs=len(jobs), items=len(matrix))
    version = model.metadata.version
    with metrics.INFERENCE_SECONDS.labels(version).time():
        proba = model.predict_proba(matrix)
    drift.RECORDER.observe(model.metadata, matrix, proba.argmax(axis=1))

    finished = time.time()
    results = _ResultsJson(model.metadata.classes, proba)
    job_results: list[bytes] = []
    job_counts: list[bytes] = []
    item_results: list[bytes] = []
    # The rows whose results are cached: every job's but those the gateway's size policy
    # keeps out of the cache (contract/tasks.py).
    cached_rows: list[int] = []
    row = 0
    for job, count in zip(jobs, counts, strict=True):
        end = row + count
        job_results.append(results.json_list(row, end))
        job_counts.append(results.counts(row, end))
        if job.get("cache", True):
            item_results += results.each(row, end)
            cached_rows.extend(range(row, end))
        row = end
    if len(cached_rows) < row:
        matrix = matrix[cached_rows]
    keys, args = lua_scripts.record_results(
        task_id=task_id,
        job_ids=job_ids,
        job_results=job_results,
        job_counts=job_counts,
        cache_keys=_cache_keys(matrix, version),
        item_results=item_results,
        finished=finished,
        cache_ttl_seconds=settings.cache_ttl_seconds,
        model_version=version,
        model_version_json=model.version_json,
        # The announcement is the served version's, whichever version computed the task.
        model_metadata_json=served.metadata_json,
    )
    # One call: the records, the cache entries, the model announcement, then the message.
    store.record_results(keys=keys, args=args)
    metrics.VERSION_TASKS.labels(version, "success").inc()
    log.info(
        "task=%s jobs=%d items=%d model=%s seconds=%.4f",
        task_id,
        len(jobs),
        row,
        version,
        finished - started,
    )
    return {"jobs": len(jobs), "items": row}
