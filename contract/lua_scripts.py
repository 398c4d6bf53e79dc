"""The Lua scripts both services run in Redis (contract/lua), and the arguments each takes.

A service registers a script with `redis.register_script(source(Script.X))` (redis-py sends
it as EVALSHA and loads it again when a restarted Redis has forgotten it) and calls it with
the keys and arguments the function of the same name here builds, and reads its reply with
the decoder beside it: the layout each script reads and returns lives in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import Any, NamedTuple

from contract.cache_keys import cache_key_prefix
from contract.jobs import (
    FINISHED_BYTES_KEY,
    FINISHED_JOBS_KEY,
    OPEN_JOBS_KEY,
    TRIMMED_IDS_KEPT,
    TRIMMED_JOBS_KEY,
    job_key,
)
from contract.messages import DONE_CHANNEL, as_bytes, started_message
from contract.model import MODEL_KEY, MODEL_TTL_SECONDS
from contract.rollout import ROLLOUT_KEY, Rollout

Keys = list[str]
Args = list[bytes | str | int | float]


class Script(StrEnum):
    LOOKUP_OR_OPEN_JOBS = "lookup_or_open_jobs"
    MARK_RUNNING = "mark_running"
    RECORD_RESULTS = "record_results"
    FAIL_JOBS = "fail_jobs"
    OVERDUE_JOBS = "overdue_jobs"
    DELETE_FINISHED = "delete_finished"
    PUBLISH_ROLLOUT = "publish_rollout"


@cache
def source(script: Script) -> str:
    return files("contract").joinpath("lua", f"{script}.lua").read_text()


class Lookup:
    """One request's part of a LOOKUP_OR_OPEN_JOBS call.

    `key_suffixes` are the items' canonical values as keys spell them
    (`contract.cache_keys.key_suffix`); the call gives the version its keys carry.
    """

    __slots__ = ("created_at", "job_key", "key_suffixes", "may_open", "n_items")

    def __init__(
        self,
        n_items: int,
        key_suffixes: Sequence[str] | None,
        job_id: str,
        created_at: float,
        may_open: bool = True,
    ) -> None:
        self.n_items = n_items
        self.key_suffixes = key_suffixes
        self.job_key = job_key(job_id)
        self.created_at = repr(created_at).encode()
        self.may_open = b"1" if may_open else b"0"


def lookup_or_open_jobs(
    lookups: Sequence[Lookup], job_timeout: bytes, model_version: str | None
) -> tuple[Keys, Args]:
    """The call for `lookups`, their cache keys under `model_version`.

    Without key suffixes (a request that skips the cache) or a known version, nothing is
    looked up: every item is a miss.
    """
    keys: Keys = [OPEN_JOBS_KEY, ROLLOUT_KEY]
    args: Args = [job_timeout, model_version or ""]
    prefix = cache_key_prefix(model_version) if model_version is not None else None
    for lookup in lookups:
        n_keys = 0
        if lookup.key_suffixes is not None and prefix is not None:
            keys += [prefix + suffix for suffix in lookup.key_suffixes]
            n_keys = len(lookup.key_suffixes)
        keys.append(lookup.job_key)
        args += (n_keys, lookup.n_items, lookup.created_at, lookup.may_open)
    return keys, args


class LookedUp(NamedTuple):
    """LOOKUP_OR_OPEN_JOBS's reply."""

    # Per lookup, each item's cache entry or None (a miss); None for the whole call when the
    # version was not the served one, and nothing was read or written.
    entries: list[list[bytes | None]] | None
    # The served version, when `entries` is None ("" decoded as None: none is published).
    served: str | None = None


def looked_up(reply: Sequence[Any], lookups: Sequence[Lookup]) -> LookedUp:
    """The reply to the call `lookup_or_open_jobs(lookups, ...)` made."""
    current, rest = reply
    if not int(current):
        served = as_bytes(rest) or b""
        return LookedUp(None, served.decode() or None)
    # Each lookup's items past its looked-up keys (all of them, without keys) are misses.
    return LookedUp(
        [
            [*map(as_bytes, entries), *[None] * (lookup.n_items - len(entries))]
            for entries, lookup in zip(rest, lookups, strict=True)
        ]
    )


def mark_running(job_ids: Sequence[str], started: float, task_id: str) -> tuple[Keys, Args]:
    keys = [job_key(job_id) for job_id in job_ids]
    # The message carries the same start time as the records: a running view built from it
    # is the one GET /jobs/{id} reads.
    return keys, [started, DONE_CHANNEL, started_message(task_id, job_ids, started), task_id]


def still_open(reply: Sequence[int]) -> list[int]:
    """MARK_RUNNING's reply: the positions (0-based) of the jobs that were still open."""
    return [int(position) - 1 for position in reply]


def record_results(
    *,
    task_id: str,
    job_ids: Sequence[str],
    job_results: Sequence[bytes],
    job_counts: Sequence[bytes],
    cache_keys: Sequence[str],
    item_results: Sequence[bytes],
    finished: float,
    cache_ttl_seconds: int,
    model_version: str,
    model_version_json: bytes,
    model_metadata_json: str,
) -> tuple[Keys, Args]:
    keys = [
        MODEL_KEY,
        OPEN_JOBS_KEY,
        FINISHED_JOBS_KEY,
        FINISHED_BYTES_KEY,
        *(job_key(job_id) for job_id in job_ids),
        *cache_keys,
    ]
    args: Args = [
        len(job_ids),
        cache_ttl_seconds,
        finished,
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
    job_ids: Sequence[str], error: str, finished: float, task_id: str | None
) -> tuple[Keys, Args]:
    keys = [
        OPEN_JOBS_KEY,
        FINISHED_JOBS_KEY,
        FINISHED_BYTES_KEY,
        *(job_key(job_id) for job_id in job_ids),
    ]
    return keys, [finished, error, DONE_CHANNEL, task_id or ""]


def ended(reply: int) -> int:
    """FAIL_JOBS's and RECORD_RESULTS's reply: how many jobs they ended (open ones only)."""
    return int(reply)


def overdue_jobs(job_ids: Sequence[str], now: float) -> tuple[Keys, Args]:
    return [OPEN_JOBS_KEY, *(job_key(job_id) for job_id in job_ids)], [repr(now), *job_ids]


def overdue(reply: Sequence[bytes | str]) -> list[str]:
    """OVERDUE_JOBS's reply: the ids of the jobs still open past their deadline."""
    return [job_id.decode() if isinstance(job_id, bytes) else job_id for job_id in reply]


# A time after every finish: "whenever it finished".
ANY_TIME = 1e300


def _delete_finished(
    job_ids: Sequence[str], finished_by: float, keep_bytes: int, trimmed_at: float | None
) -> tuple[Keys, Args]:
    keys = [
        FINISHED_JOBS_KEY,
        FINISHED_BYTES_KEY,
        TRIMMED_JOBS_KEY,
        *(job_key(job_id) for job_id in job_ids),
    ]
    noted = "" if trimmed_at is None else repr(trimmed_at)
    return keys, [repr(finished_by), keep_bytes, noted, TRIMMED_IDS_KEPT]


def forget_answered(job_ids: Sequence[str]) -> tuple[Keys, Args]:
    """Jobs answered inside their sync request: their records go (open ones stay)."""
    return _delete_finished(job_ids, ANY_TIME, -1, None)


def expire_finished(job_ids: Sequence[str], finished_by: float) -> tuple[Keys, Args]:
    """Records of jobs finished by `finished_by` (now less JOB_TTL_SECONDS) go."""
    return _delete_finished(job_ids, finished_by, -1, None)


def trim_finished(job_ids: Sequence[str], keep_bytes: int, now: float) -> tuple[Keys, Args]:
    """The oldest finished records go, in the order given, until `keep_bytes` remain; each
    id is noted as trimmed, so that reading it answers 410."""
    return _delete_finished(job_ids, ANY_TIME, keep_bytes, now)


class Deleted(NamedTuple):
    """DELETE_FINISHED's reply."""

    records: int
    # What the finished records still hold (FINISHED_BYTES_KEY) after the deletion.
    bytes_left: int


def deleted(reply: Sequence[int]) -> Deleted:
    records, bytes_left = reply
    return Deleted(int(records), int(bytes_left))


def publish_rollout(rollout: Rollout) -> tuple[Keys, Args]:
    return [ROLLOUT_KEY], [
        rollout.generation,
        rollout.served,
        rollout.canary or "",
        rollout.canary_percent,
    ]


def published(reply: int) -> bool:
    """PUBLISH_ROLLOUT's reply: whether the rollout was newer than the published one."""
    return bool(int(reply))
