"""The Lua scripts both services run in Redis (contract/lua), and the arguments each takes.

A service registers a script with `redis.register_script(source(Script.X))` (redis-py sends
it as EVALSHA and loads it again when a restarted Redis has forgotten it) and calls it with
the keys and arguments the function of the same name here builds: the layout each script
reads lives beside it, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from functools import cache
from importlib.resources import files

from contract.cache_keys import cache_key_prefix
from contract.jobs import JOB_DEADLINES_KEY, job_key
from contract.messages import DONE_CHANNEL, started_message
from contract.model import MODEL_KEY, MODEL_TTL_SECONDS

Keys = list[str]
Args = list[bytes | str | int | float]


class Script(StrEnum):
    LOOKUP_OR_OPEN_JOBS = "lookup_or_open_jobs"
    MARK_RUNNING = "mark_running"
    RECORD_RESULTS = "record_results"
    FAIL_JOBS = "fail_jobs"
    SWEEP = "sweep"


@cache
def source(script: Script) -> str:
    return files("contract").joinpath("lua", f"{script}.lua").read_text()


class Lookup:
    """One request's part of a LOOKUP_OR_OPEN_JOBS call."""

    __slots__ = ("created_at", "keys", "n_items")

    def __init__(
        self,
        n_items: int,
        key_suffixes: Sequence[str] | None,
        model_version: str | None,
        job_id: str,
        created_at: float,
    ) -> None:
        # Without key suffixes (a request that skips the cache) or a known model, nothing is
        # looked up: every item is a miss.
        if key_suffixes is None or model_version is None:
            self.keys = [job_key(job_id)]
        else:
            prefix = cache_key_prefix(model_version)
            self.keys = [*(prefix + suffix for suffix in key_suffixes), job_key(job_id)]
        self.n_items = n_items
        self.created_at = repr(created_at).encode()


def lookup_or_open_jobs(lookups: Sequence[Lookup], job_timeout: bytes) -> tuple[Keys, Args]:
    keys: Keys = [JOB_DEADLINES_KEY]
    args: Args = [job_timeout]
    for lookup in lookups:
        keys += lookup.keys
        args += (len(lookup.keys) - 1, lookup.n_items, lookup.created_at)
    return keys, args


def mark_running(job_ids: Sequence[str], started: float, task_id: str) -> tuple[Keys, Args]:
    keys = [job_key(job_id) for job_id in job_ids]
    # The message carries the same start time as the records: a running view built from it
    # is the one GET /jobs/{id} reads.
    return keys, [started, DONE_CHANNEL, started_message(task_id, job_ids, started), task_id]


def record_results(
    *,
    task_id: str,
    job_ids: Sequence[str],
    job_results: Sequence[bytes],
    job_counts: Sequence[bytes],
    cache_keys: Sequence[str],
    item_results: Sequence[bytes],
    finished: float,
    job_ttl_seconds: int,
    cache_ttl_seconds: int,
    model_version: str,
    model_version_json: bytes,
    model_metadata_json: str,
) -> tuple[Keys, Args]:
    keys = [MODEL_KEY, JOB_DEADLINES_KEY, *(job_key(job_id) for job_id in job_ids), *cache_keys]
    args: Args = [
        len(job_ids),
        cache_ttl_seconds,
        finished,
        finished + job_ttl_seconds,
        MODEL_TTL_SECONDS,
        model_version,
        model_metadata_json,
        DONE_CHANNEL,
        task_id,
        model_version_json,
        *job_results,
        *job_counts,
        *item_results,
    ]
    return keys, args


def fail_jobs(
    job_ids: Sequence[str], error: str, finished: float, job_ttl_seconds: int, task_id: str | None
) -> tuple[Keys, Args]:
    keys = [JOB_DEADLINES_KEY, *(job_key(job_id) for job_id in job_ids)]
    args: Args = [finished, finished + job_ttl_seconds, error, DONE_CHANNEL, task_id or ""]
    return keys, args


def sweep(job_ids: Sequence[str], now: float) -> tuple[Keys, Args]:
    return [JOB_DEADLINES_KEY, *(job_key(job_id) for job_id in job_ids)], [repr(now), *job_ids]
