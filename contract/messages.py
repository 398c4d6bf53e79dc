"""The messages on the done channel, which every gateway subscribes to.

- A task's start, `{"task_id": ..., "started": true}`: the gateway sends its next task once
  the one before has a worker (gateway/dispatcher.py).
- A task's outcome, `{"task_id": ..., "jobs": {job_id: outcome}}`, once its records are
  written: each job it finished, done with its results or failed with an error. A task that
  finds none of its jobs open still announces its outcome, with no jobs: the gateway frees
  the task's slot. The sweeper's outcome for jobs it times out has `"task_id": null`.

The Lua scripts (contract/lua) write the outcomes; `parse` reads every message.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

import orjson

from contract.jobs import JobStatus
from contract.keys import KEY_PREFIX

DONE_CHANNEL = f"{KEY_PREFIX}:done"


class TaskStarted(TypedDict):
    task_id: str
    started: Literal[True]


class DoneOutcome(TypedDict):
    status: Literal["done"]  # JobStatus.DONE
    model_version: str
    # One result per missed item, in request order: prediction, class_index, probabilities.
    results: list[dict[str, Any]]


class FailedOutcome(TypedDict):
    status: Literal["failed"]  # JobStatus.FAILED
    error: str


JobOutcome = DoneOutcome | FailedOutcome


class TaskOutcome(TypedDict):
    task_id: str | None
    jobs: dict[str, JobOutcome]


class MalformedMessage(ValueError):
    """A message on the done channel that is not one of these."""


def started_message(task_id: str) -> bytes:
    message: TaskStarted = {"task_id": task_id, "started": True}
    return orjson.dumps(message)


def done_outcome(model_version: str, results: list[dict[str, Any]]) -> DoneOutcome:
    return {"status": "done", "model_version": model_version, "results": results}


def failed_outcome(error: str) -> FailedOutcome:
    return {"status": "failed", "error": error}


def parse(data: bytes | str) -> TaskStarted | TaskOutcome:
    """A message from the channel, checked as far as its readers rely on it."""
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage("not JSON") from exc
    if not isinstance(message, dict) or not isinstance(message.get("task_id"), str | None):
        raise MalformedMessage("not a task message")
    if message.get("started") is True and message["task_id"] is not None:
        return message  # type: ignore[return-value]
    jobs = message.get("jobs")
    if not isinstance(jobs, dict) or not all(
        isinstance(outcome, dict) and outcome.get("status") in (JobStatus.DONE, JobStatus.FAILED)
        for outcome in jobs.values()
    ):
        raise MalformedMessage("not a task outcome")
    message.setdefault("task_id", None)
    return message  # type: ignore[return-value]
