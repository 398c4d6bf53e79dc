"""The messages on the done channel, which every gateway subscribes to.

- A task's start, `{"task_id": ..., "started": true, "started_at": ..., "jobs": [job_id, ...]}`,
  once its open jobs are marked running: the gateway sends its next task once the one before
  has a worker (gateway/dispatcher.py), and tells the event streams of the named jobs that
  they run (gateway/job_events.py), whichever gateway submitted them. `started_at` is the
  running records' `started_at`, so a stream builds the running view without reading the
  record. `jobs` names every job of the task: in a task run again, a job that has finished
  already stays finished (status only moves forward), so readers take it as running only
  while they know it open.
- A task's outcome, `{"task_id": ..., "jobs": {job_id: outcome}}`, once its records are
  written: each job it finished, done with its results or failed with an error. A task that
  finds none of its jobs open still announces its outcome, with no jobs: the gateway frees
  the task's slot. The sweeper's outcome for jobs it times out has `"task_id": null`.

An outcome with done jobs is a JSON line, then the jobs' results one after the other: each
done outcome gives its results as `[start, end]`, their place after the newline. A gateway
reads the short line and splices a job's results into its response as they are, however many
items they hold; nothing reads or re-encodes them on the way. (Compact JSON has no raw
newline, so the first one ends the line.)

The Lua scripts (contract/lua) write the outcomes; `parse` reads every message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal, TypedDict, final

import orjson

from contract.jobs import JobField, JobStatus
from contract.keys import KEY_PREFIX

DONE_CHANNEL = f"{KEY_PREFIX}:done"


# Final: the readers tell the two messages apart by their keys (`"started" in message`).
@final
class TaskStarted(TypedDict):
    task_id: str
    started: Literal[True]
    # None and [] in a start from a worker that predates them: nothing is told to streams.
    started_at: float | None
    jobs: list[str]


class DoneOutcome(TypedDict):
    status: Literal[JobStatus.DONE]
    model_version: str
    # How many of the results predict each class: the gateways count predictions from it.
    counts: dict[str, int]
    # The JSON list of the job's results, one per missed item in request order, each an
    # ItemResult (contract/http.py) with "cached": false: the bytes the job record holds.
    results: bytes


class FailedOutcome(TypedDict):
    status: Literal[JobStatus.FAILED]
    error: str


JobOutcome = DoneOutcome | FailedOutcome


@final
class TaskOutcome(TypedDict):
    task_id: str | None
    jobs: dict[str, JobOutcome]


class MalformedMessage(ValueError):
    """A message on the done channel that is not one of these."""


def started_message(task_id: str, job_ids: Sequence[str], started_at: float) -> bytes:
    message: TaskStarted = {
        "task_id": task_id,
        "started": True,
        "started_at": started_at,
        "jobs": list(job_ids),
    }
    return orjson.dumps(message)


def done_outcome(model_version: str, counts: dict[str, int], results: bytes) -> DoneOutcome:
    return {
        "status": JobStatus.DONE,
        "model_version": model_version,
        "counts": counts,
        "results": results,
    }


def failed_outcome(error: str) -> FailedOutcome:
    return {"status": JobStatus.FAILED, "error": error}


# The record's fields an outcome is read from (HMGET), in the order `record_outcome` takes.
OUTCOME_FIELDS = (JobField.STATUS, JobField.MODEL_VERSION, JobField.RESULTS, JobField.ERROR)


def record_outcome(values: Sequence[bytes | str | None]) -> JobOutcome | None:
    """A finished job's outcome from its record's OUTCOME_FIELDS; None while it is open or
    when it has no record. The results are the record's bytes, as a done message carries."""
    status, model_version, results, error = (as_bytes(value) for value in values)
    if status == JobStatus.DONE.encode() and results is not None:
        counts = Counter(item["prediction"] for item in orjson.loads(results))
        return done_outcome((model_version or b"").decode(), dict(counts), results)
    if status == JobStatus.FAILED.encode():
        return failed_outcome(error.decode() if error else "prediction failed")
    return None


def as_bytes(value: bytes | str | None) -> bytes | None:
    """A value of a Redis reply as bytes (a client may decode replies to str)."""
    return value.encode() if isinstance(value, str) else value


def parse(data: bytes | str) -> TaskStarted | TaskOutcome:
    """A message from the channel, checked as far as its readers rely on it."""
    if isinstance(data, str):
        data = data.encode()
    line, _, tail = data.partition(b"\n")
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage("not JSON") from exc
    if not isinstance(message, dict) or not isinstance(message.get("task_id"), str | None):
        raise MalformedMessage("not a task message")
    if message.get("started") is True and message["task_id"] is not None:
        # The ids are looked up, never trusted further: a list is all readers rely on.
        if not isinstance(message.setdefault("jobs", []), list) or not isinstance(
            message.setdefault("started_at", None), int | float | None
        ):
            raise MalformedMessage("not a task start")
        return message  # type: ignore[return-value]
    jobs = message.get("jobs")
    if not isinstance(jobs, dict) or not all(
        isinstance(outcome, dict) and outcome.get("status") in (JobStatus.DONE, JobStatus.FAILED)
        for outcome in jobs.values()
    ):
        raise MalformedMessage("not a task outcome")
    for outcome in jobs.values():
        if outcome["status"] == JobStatus.DONE:
            outcome["results"] = _results(outcome, tail)
    message.setdefault("task_id", None)
    return message  # type: ignore[return-value]


def _results(outcome: dict[str, Any], tail: bytes) -> bytes:
    """A done outcome's results, cut from the message's tail."""
    place, counts = outcome.get("results"), outcome.get("counts")
    if not (
        isinstance(place, list)
        and len(place) == 2
        and all(type(end) is int for end in place)
        and 0 <= place[0] <= place[1] <= len(tail)
        and isinstance(counts, dict)
        and isinstance(outcome.get("model_version"), str)
    ):
        raise MalformedMessage("not a done outcome")
    return tail[place[0] : place[1]]
