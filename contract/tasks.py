"""The predict task: its name and its one argument, the jobs it carries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NotRequired, TypedDict

TASK_NAME = "irisq.predict"


class TaskJob(TypedDict):
    """One job of a task: its id and its missed items' measurements, in request order."""

    job_id: str
    # Each row [sepal_length, sepal_width, petal_length, petal_width] (contract.http.FEATURES)
    # as validated. The worker rounds every row by the cache-key rule
    # (contract.cache_keys.canonical_values) before it predicts, so a cached job's rows, which
    # the gateway has rounded already for their keys, and a large job's raw rows are answered
    # alike.
    items: Sequence[Sequence[float]]
    # False: the worker writes no cache entries for these items (the gateway's size policy,
    # CACHE_MAX_ITEMS). Absent means True.
    cache: NotRequired[bool]


# The task's one argument.
TaskPayload = list[TaskJob]


def task_job(job_id: str, items: Sequence[Sequence[float]], cache: bool = True) -> TaskJob:
    if cache:
        return {"job_id": job_id, "items": items}
    return {"job_id": job_id, "items": items, "cache": False}


def readable_job_ids(payload: object) -> list[str]:
    """The job ids a payload carries, however malformed the rest of it is."""
    if not isinstance(payload, list):
        return []
    return [
        job["job_id"]
        for job in payload
        if isinstance(job, dict) and isinstance(job.get("job_id"), str)
    ]
