"""Job event streams read as a browser's EventSource reads them, and jobs opened for them.

Jobs are opened with the gateway's own script (contract/lua/lookup_or_open_jobs.lua), so their
records are the gateway's, and sent to a real worker as a Celery task: a test decides when a
job starts, and the gateway that streams it is not the one that submitted it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import redis
from celery import Celery

from contract.jobs import new_job_id
from contract.lua_scripts import Lookup, Script, looked_up, lookup_or_open_jobs, source
from contract.messages import as_bytes
from contract.rollout import ROLLOUT_KEY, RolloutField
from contract.tasks import TASK_NAME, task_job

ITEM = [5.1, 3.5, 1.4, 0.2]
JOB_TIMEOUT = b"600"


def open_jobs(client: redis.Redis, count: int) -> list[str]:
    """`count` queued jobs of one item each, recorded as the gateway records them."""
    job_ids = [new_job_id() for _ in range(count)]
    lookups = [Lookup(1, None, job_id, time.time()) for job_id in job_ids]
    # The version must be the served one, or the script opens nothing; no lookup has keys.
    served = as_bytes(client.hget(ROLLOUT_KEY, RolloutField.SERVED))
    keys, args = lookup_or_open_jobs(lookups, JOB_TIMEOUT, served.decode() if served else None)
    reply = looked_up(
        client.register_script(source(Script.LOOKUP_OR_OPEN_JOBS))(keys=keys, args=args), lookups
    )
    assert reply.entries is not None, "the served version changed under the test"
    return job_ids


def send_jobs(celery: Celery, job_ids: list[str]) -> None:
    """One task that carries the jobs, as the gateway's dispatcher sends it."""
    celery.send_task(TASK_NAME, args=[[task_job(job_id, [ITEM]) for job_id in job_ids]])


@dataclass
class Event:
    name: str
    id: int
    data: dict[str, Any]


@dataclass
class EventParser:
    """The fields of the event stream format that irisq sends: event, id, data, retry, comments."""

    retry: int | None = None
    comments: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def line(self, line: str) -> Event | None:
        """Takes one line; the event that a blank line completes."""
        if not line:
            fields, self.fields = self.fields, {}
            if "data" not in fields:
                return None
            data = orjson.loads(fields["data"])
            return Event(fields.get("event", "message"), int(fields["id"]), data)
        if line.startswith(":"):
            self.comments.append(line[1:].strip())
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "retry":
            self.retry = int(value)
        else:
            self.fields[name] = value
        return None


class EventStream:
    """A stream being read, every read within the stream's deadline."""

    def __init__(self, response: httpx.Response, timeout: float) -> None:
        self.response = response
        self.lines = response.iter_lines()
        self.parser = EventParser()
        self.deadline = time.monotonic() + timeout

    def _line(self) -> str | None:
        if time.monotonic() > self.deadline:
            raise TimeoutError("the event stream ran past its deadline")
        return next(self.lines, None)

    def next(self) -> Event | None:
        """The next event; None once the stream has ended."""
        while (line := self._line()) is not None:
            if (event := self.parser.line(line)) is not None:
                return event
        return None

    def rest(self) -> list[Event]:
        """Every event until the stream ends."""
        events = []
        while (event := self.next()) is not None:
            events.append(event)
        return events

    def until(self, done: Callable[[EventParser], bool]) -> None:
        """Reads on until `done` holds (comments, say); an event on the way is an error."""
        while not done(self.parser):
            line = self._line()
            assert line is not None, "the stream ended"
            assert self.parser.line(line) is None, "an event came"


@contextlib.contextmanager
def stream(
    http: httpx.Client, job_id: str, timeout: float = 30, headers: dict[str, str] | None = None
) -> Iterator[EventStream]:
    """A job's event stream, answered 200 as an event stream."""
    with http.stream("GET", f"/jobs/{job_id}/events", headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response, timeout)
