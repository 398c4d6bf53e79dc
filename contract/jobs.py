"""The job record: a Redis hash at `irisq:job:{id}`, its id format and its lifetime.

Status moves only forward: queued -> running -> done | failed. The gateway creates the
record (queued) with the request's cached entries; a worker marks it running, then done with
its results, or failed with an error. A write never recreates a missing record, and a
finished job is never changed again (a task run twice skips it).

Records carry no Redis TTL: Redis runs `volatile-lru`, which evicts only keys with a TTL (the
cache entries), so memory pressure never evicts a job. Two sorted sets keep their lifetime:
- OPEN_JOBS_KEY, scored with created_at + JOB_TIMEOUT_SECONDS: past it the gateway's sweeper
  fails the job ("timed out") and announces it on the done channel;
- FINISHED_JOBS_KEY, scored with finished_at: the retention rule (docs/reliability.md) deletes
  finished records, oldest first, and never an open one. FINISHED_BYTES_KEY sums what they
  hold (`MEMORY USAGE`, taken when each finishes), so the gateway trims them to a budget of
  Redis' memory; the ids it trimmed stay in TRIMMED_JOBS_KEY (the newest TRIMMED_IDS_KEPT),
  so that reading one answers 410 Gone rather than 404.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import orjson

from contract.keys import KEY_PREFIX

JOB_KEY_PREFIX = f"{KEY_PREFIX}:job:"
OPEN_JOBS_KEY = f"{KEY_PREFIX}:jobs:open"
FINISHED_JOBS_KEY = f"{KEY_PREFIX}:jobs:finished"
FINISHED_BYTES_KEY = f"{KEY_PREFIX}:jobs:finished_bytes"
TRIMMED_JOBS_KEY = f"{KEY_PREFIX}:jobs:trimmed"
# What one job id costs a sorted set of them (used_memory's growth per entry, measured):
# FINISHED_BYTES_KEY counts the records themselves, the finished index adds this per record.
INDEX_ENTRY_BYTES = 144
# At INDEX_ENTRY_BYTES each, the trimmed ids hold ~7 MB at most.
TRIMMED_IDS_KEPT = 50_000
# Ids are 32 lower-case hex digits; anything else is not a job of ours and never reaches
# Redis. Matched whole (`fullmatch`): `$` would also accept a trailing newline.
JOB_ID = re.compile(r"[0-9a-f]{32}")


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobField(StrEnum):
    """Fields of the job hash. The Lua scripts (contract/lua) spell these names too."""

    STATUS = "status"
    CREATED_AT = "created_at"
    STARTED_AT = "started_at"
    FINISHED_AT = "finished_at"
    MODEL_VERSION = "model_version"
    # JSON list, one entry per request item: the cached result, or null for a miss.
    CACHED = "cached"
    # JSON list of the results for the misses, in request order, each an ItemResult with
    # "cached": false (written by the worker; the done message carries the same bytes).
    RESULTS = "results"
    ERROR = "error"
    # The model version of the cached entries, written only when there are any: the answer
    # labels each item with its version when the computed ones come from another.
    CACHED_VERSION = "cached_version"


def new_job_id() -> str:
    return secrets.token_hex(16)


def is_job_id(text: str) -> bool:
    return JOB_ID.fullmatch(text) is not None


def job_key(job_id: str) -> str:
    return JOB_KEY_PREFIX + job_id


def merge_items(
    cached: Sequence[Any],
    results: Sequence[dict[str, Any]],
    cached_version: str | None = None,
    computed_version: str | None = None,
) -> list[dict[str, Any]]:
    """Request-order items: cached entries where present, the worker's results elsewhere.

    `cached` holds the stored cache entries (JSON bytes) or their parsed values; None marks
    a miss, answered by the next of `results`. When the cached entries' version is not the
    computed items' one, each item names its own (contract.http.ItemResult.model_version).
    """
    labelled = (
        cached_version is not None
        and computed_version is not None
        and cached_version != computed_version
    )
    fresh = iter(results)
    merged = []
    for entry in cached:
        if entry is None:
            item = {**next(fresh), "cached": False}
            if labelled:
                item["model_version"] = computed_version
        else:
            parsed = orjson.loads(entry) if isinstance(entry, bytes | str) else entry
            item = {**parsed, "cached": True}
            if labelled:
                item["model_version"] = cached_version
        merged.append(item)
    return merged
