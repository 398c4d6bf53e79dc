"""The predict task: its name and its one argument, the jobs it carries."""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Sequence
from itertools import chain
from typing import NotRequired, TypedDict

import numpy as np
import numpy.typing as npt

from contract.http import FEATURES

TASK_NAME = "irisq.predict"

# A job's rows travel as one matrix: little-endian float64, row after row, each row's values
# in FEATURES order, base64 in the task's JSON. The worker reads it with one numpy call;
# JSON numbers would make every value a Python float three times over in the worker (its
# main process's parse, the hand-over to the pool, the pool's parse). A tensor body (the
# Open Inference Protocol's FP64 data) packs the same way.
ROW_DTYPE = "<f8"
ROW_BYTES = 8 * len(FEATURES)

# A job's rows as the gateway holds them: a parsed body's, or a tensor's matrix.
Rows = Sequence[Sequence[float]] | npt.NDArray[np.float64]


class TaskJob(TypedDict):
    """One job of a task: its id and its missed items' measurements, in request order."""

    job_id: str
    # The rows as validated (`pack_rows`). The worker rounds every row by the cache-key rule
    # (contract.cache_keys.canonical_values) before it predicts, so a cached job's rows,
    # which the gateway has rounded already for their keys, and a large job's raw rows are
    # answered alike.
    rows: str
    # False: the worker writes no cache entries for these items (the gateway's size policy,
    # CACHE_MAX_ITEMS). Absent means True.
    cache: NotRequired[bool]


# The task's one argument.
TaskPayload = list[TaskJob]


def pack_rows(rows: Rows) -> str:
    if isinstance(rows, np.ndarray):
        # A tensor's matrix is packed whole, with no Python float a value.
        if rows.ndim != 2 or rows.shape[1] != len(FEATURES):
            raise ValueError(f"each row must have {len(FEATURES)} values")
        return base64.b64encode(np.ascontiguousarray(rows, ROW_DTYPE).tobytes()).decode("ascii")
    values = tuple(chain.from_iterable(rows))
    if len(values) != len(rows) * len(FEATURES):
        raise ValueError(f"each row must have {len(FEATURES)} values")
    return base64.b64encode(struct.pack(f"<{len(values)}d", *values)).decode("ascii")


def unpack_rows(rows: str) -> bytes:
    """A job's rows as bytes of ROW_DTYPE; ValueError for anything `pack_rows` can't give."""
    data = binascii.a2b_base64(rows, strict_mode=True)
    if len(data) % ROW_BYTES:
        raise ValueError(f"rows of {len(data)} bytes, not a whole number of {ROW_BYTES}")
    return data


def row_count(job: TaskJob) -> int:
    """How many rows a job carries, from its text's length alone."""
    text = job["rows"]
    padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return (len(text) * 3 // 4 - padding) // ROW_BYTES


def task_job(job_id: str, rows: Rows, cache: bool = True) -> TaskJob:
    if cache:
        return {"job_id": job_id, "rows": pack_rows(rows)}
    return {"job_id": job_id, "rows": pack_rows(rows), "cache": False}


def readable_job_ids(payload: object) -> list[str]:
    """The job ids a payload carries, however malformed the rest of it is."""
    if not isinstance(payload, list):
        return []
    return [
        job["job_id"]
        for job in payload
        if isinstance(job, dict) and isinstance(job.get("job_id"), str)
    ]
