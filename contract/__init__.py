"""The wire contract shared by gateway and worker: shapes, task name, Redis keys.

Imports nothing heavy (pydantic only): the gateway must stay free of the model stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

FEATURES: tuple[str, ...] = ("sepal_length", "sepal_width", "petal_length", "petal_width")
TASK_NAME = "irisq.predict"
KEY_PREFIX = "irisq"
DONE_CHANNEL = f"{KEY_PREFIX}:done"
MODEL_KEY = f"{KEY_PREFIX}:model"
# Workers refresh the model announcement every 10 s; it lapses this long after the last one.
MODEL_TTL_SECONDS = 60
# Values are rounded to this many decimals (1 µm) before caching AND before prediction,
# so a cached answer is always exactly what the model gives for the canonical input.
CANONICAL_DECIMALS = 4

Measurement = Annotated[
    float,
    Field(strict=True, gt=0, le=100, allow_inf_nan=False, description="centimetres, (0, 100]"),
]


class PredictionItem(BaseModel):
    """One flower's four measurements in cm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sepal_length: Measurement
    sepal_width: Measurement
    petal_length: Measurement
    petal_width: Measurement

    def values(self) -> tuple[float, float, float, float]:
        return (self.sepal_length, self.sepal_width, self.petal_length, self.petal_width)


class PredictionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "sepal_length": 5.1,
                            "sepal_width": 3.5,
                            "petal_length": 1.4,
                            "petal_width": 0.2,
                        }
                    ]
                }
            ]
        },
    )

    items: list[PredictionItem] = Field(min_length=1)


class ItemResult(BaseModel):
    prediction: str
    class_index: int
    probabilities: dict[str, float]
    cached: bool


class PredictionResponse(BaseModel):
    model_version: str
    job_id: str | None
    items: list[ItemResult]


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatus
    status_url: str


class JobView(BaseModel):
    """What `GET /jobs/{id}` answers."""

    job_id: str
    status: JobStatus
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    model_version: str | None = None
    items: list[ItemResult] | None = None
    error: str | None = None


class ModelMetadata(BaseModel):
    name: str
    version: str
    sha256: str
    trained_at: str
    sklearn_version: str
    features: list[dict[str, str]]
    classes: list[str]
    holdout_accuracy: float
    n_estimators: int
    random_state: int


# --- Redis keys and the task payload -------------------------------------------------------


def canonical_value(value: float) -> float:
    return round(value, CANONICAL_DECIMALS)


def canonical_values(values: Sequence[float]) -> list[float]:
    return [canonical_value(v) for v in values]


def _format(value: float) -> str:
    # 5.1, 5.10 and 5.100004 all become "5.1"; 5.0 and 5 become "5". A value rounded to 4
    # decimals and at most 100 has a plain shortest repr ("0.0001", never "1e-05"), and repr
    # is twice as fast as formatting: keys are made per item on both hot paths.
    return repr(float(value)).removesuffix(".0")


def cache_key(values: Sequence[float], model_version: str) -> str:
    """`irisq:pred:{version}:{sl}|{sw}|{pl}|{pw}` with canonically rounded values."""
    return canonical_cache_key(canonical_values(values), model_version)


def cache_key_prefix(model_version: str) -> str:
    return f"{KEY_PREFIX}:pred:{model_version}:"


def canonical_cache_key(values: Sequence[float], model_version: str) -> str:
    """The cache key of values already rounded by `canonical_values`.

    Both hot paths hold canonical values already; rounding them again (`round` goes through
    a decimal conversion) was a fifth of a worker's time on 100-item requests.
    """
    return cache_key_prefix(model_version) + "|".join(_format(v) for v in values)


_ROW_FORMAT = "|".join([f"%.{CANONICAL_DECIMALS}f"] * len(FEATURES))
_TRAILING_ZEROS = re.compile(r"\.?0+(?=[|\n]|\Z)")


def _rows_text(rows: Iterable[Sequence[float]]) -> str:
    """Every row's values rounded by "%.4f", `|` between values, a newline between rows.

    "%.4f" rounds exactly as `round(v, 4)` does: both are CPython's correctly rounded dtoa.
    """
    return "\n".join([_ROW_FORMAT % tuple(row) for row in rows])


def _key_suffixes(text: str) -> list[str]:
    # A canonical value's "%.4f" text, with at most 15 significant digits (any magnitude
    # below 1e11), is its shortest repr once its trailing zeros go: what `_format` spells.
    return _TRAILING_ZEROS.sub("", text).split("\n") if text else []


def canonical_rows(rows: Iterable[Sequence[float]]) -> tuple[list[list[float]], list[str]]:
    """Each row's `canonical_values` and its cache-key suffix (`5.1|3.5|1.4|0.2`), for
    measurements in (0, 100] as requests carry them.

    The same as `canonical_values` and `canonical_cache_key` (a property test holds them
    equal) at half the cost, in one pass over every row's text.
    """
    text = _rows_text(rows)
    values = [list(map(float, line.split("|"))) for line in text.split("\n")] if text else []
    return values, _key_suffixes(text)


def canonical_key_suffixes(rows: Iterable[Sequence[float]]) -> list[str]:
    """The cache-key suffixes of rows of canonical values, each of magnitude below 1e11.

    The same text as `canonical_cache_key` spells (a property test holds them equal).
    """
    return _key_suffixes(_rows_text(rows))


def redis_url(url: str | None, host: str, port: int, password: str | None, db: int) -> str:
    """REDIS_URL if set, else one built from REDIS_HOST/PORT/PASSWORD/DB (both services)."""
    if url:
        return url
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"


JOB_KEY_PREFIX = f"{KEY_PREFIX}:job:"


def job_key(job_id: str) -> str:
    return JOB_KEY_PREFIX + job_id


def lua_job_id(key: str) -> str:
    """Lua for the job id inside the job key held by the Lua variable `key`."""
    return f"string.sub({key}, {len(JOB_KEY_PREFIX) + 1})"


# Job records carry no Redis TTL: Redis runs `volatile-lru`, which evicts only keys with a TTL
# (the cache entries), so under memory pressure a job record is never evicted. Their lifetime
# is kept here instead: a sorted set of job ids whose score is the time by which the gateway's
# sweeper (gateway/sweeper.py) acts on the job.
# - While a job is open (queued or running), its score is created_at + JOB_TIMEOUT_SECONDS:
#   past it, the sweeper fails the job ("timed out") and announces that on DONE_CHANNEL.
# - Once it is finished (done or failed), its score is finished_at + JOB_TTL_SECONDS: past
#   it, the sweeper deletes the record.
# Status moves only forward: queued -> running -> done | failed. A write never recreates a
# missing record, and a finished job is never changed again (a redelivered task skips it).
JOB_DEADLINES_KEY = f"{KEY_PREFIX}:jobs:deadlines"


class JobField(StrEnum):
    """Fields of the job hash at `irisq:job:{id}`."""

    STATUS = "status"
    CREATED_AT = "created_at"
    STARTED_AT = "started_at"
    FINISHED_AT = "finished_at"
    MODEL_VERSION = "model_version"
    # JSON list, one entry per request item: the cached result, or null for a miss.
    CACHED = "cached"
    # JSON list of the results for the misses, in request order (written by the worker).
    RESULTS = "results"
    ERROR = "error"


# Task argument: a list of jobs, each {"job_id": str, "items": [[sl, sw, pl, pw], ...]}.
TaskJobs = list[dict[str, Any]]


def task_job(job_id: str, items: list[list[float]]) -> dict[str, Any]:
    return {"job_id": job_id, "items": items}


# Messages on DONE_CHANNEL: a task's outcome, {"task_id": str, "jobs": {job_id: outcome}}, and
# before it the task's start, {"task_id": str, "started": true}.
def started_message(task_id: str) -> bytes:
    return orjson.dumps({"task_id": task_id, "started": True})
