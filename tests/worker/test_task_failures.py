"""Tasks sent to a real worker directly: failures end their jobs, finished jobs never change.

Job records are written here as the gateway writes them (tests/support/job_records.py); the
outcome each task publishes is read from the done channel, as the gateway reads it.
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from celery import Celery

from contract.jobs import FINISHED_JOBS_KEY, job_key
from contract.messages import DONE_CHANNEL, parse
from contract.tasks import TASK_NAME, pack_rows, task_job
from gateway.dispatcher import create_celery_client
from gateway.settings import Settings
from scripts.stack import LocalStack
from tests.support.job_records import queued_job
from worker.failures import TIME_LIMIT_ERROR

ITEM = [5.1, 3.5, 1.4, 0.2]


@dataclass
class Worker:
    stack: LocalStack
    client: redis.Redis
    celery: Celery
    channel: Any

    def send(self, jobs: Any, task_id: str | None = None) -> str:
        task_id = task_id or uuid.uuid4().hex
        self.celery.send_task(TASK_NAME, args=[jobs], task_id=task_id)
        return task_id

    def outcome(self, task_id: str, timeout: float = 20) -> dict[str, Any]:
        """The task's outcome message on the done channel (not its started message)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.channel.get_message(timeout=0.5)
            if message is None:
                continue
            body: dict[str, Any] = dict(parse(message["data"]))
            if body.get("task_id") == task_id and not body.get("started"):
                return body
        raise TimeoutError(f"no outcome for task {task_id} in {timeout}s")

    def record(self, job_id: str) -> dict[str, str]:
        record: dict[bytes, bytes] = self.client.hgetall(job_key(job_id))  # type: ignore[assignment]
        return {k.decode(): v.decode() for k, v in record.items()}


def _worker(stack: LocalStack, **env: str) -> Iterator[Worker]:
    stack.start_redis()
    stack.start_worker(**env)
    client = redis.Redis.from_url(str(stack.redis_url))
    channel = client.pubsub(ignore_subscribe_messages=True)
    channel.subscribe(DONE_CHANNEL)
    celery = create_celery_client(Settings(redis_url=str(stack.redis_url)))
    try:
        yield Worker(stack, client, celery, channel)
    finally:
        channel.close()
        client.close()
        celery.close()


@pytest.fixture
def worker(stack: LocalStack) -> Iterator[Worker]:
    yield from _worker(stack)


def test_a_malformed_payload_fails_the_jobs_it_names(worker: Worker) -> None:
    short, unreadable = queued_job(worker.client), queued_job(worker.client)
    jobs = [
        {"job_id": short, "rows": base64.b64encode(struct.pack("<3d", 5.1, 3.5, 1.4)).decode()},
        {"job_id": unreadable, "rows": "four numbers"},
        {"rows": pack_rows([ITEM])},
        "not a job",
    ]
    task_id = worker.send(jobs)

    outcome = worker.outcome(task_id)
    assert set(outcome["jobs"]) == {short, unreadable}
    for job_id in (short, unreadable):
        assert outcome["jobs"][job_id]["status"] == "failed"
        assert outcome["jobs"][job_id]["error"].startswith("prediction failed: malformed task")
        record = worker.record(job_id)
        assert record["status"] == "failed"
        assert record["error"] == outcome["jobs"][job_id]["error"]
        assert "finished_at" in record


def test_a_payload_that_is_no_list_publishes_the_tasks_outcome(worker: Worker) -> None:
    # No job to fail, yet the gateway must hear of the task to free its slot.
    task_id = worker.send({"job_id": "x", "rows": pack_rows([ITEM])})
    assert worker.outcome(task_id) == {"task_id": task_id, "jobs": {}}


def test_a_finished_job_is_left_alone_by_a_task_run_again(worker: Worker) -> None:
    job_id = queued_job(worker.client)
    payload = [task_job(job_id, [ITEM])]
    first = worker.outcome(worker.send(payload))
    assert first["jobs"][job_id]["status"] == "done"
    done = worker.record(job_id)

    # The same task delivered again (a redelivery after a lost acknowledgement).
    again = worker.send(payload)
    assert worker.outcome(again) == {"task_id": again, "jobs": {}}
    assert worker.record(job_id) == done
    assert done["status"] == "done"


def test_a_record_is_written_only_while_it_exists_and_never_gets_a_ttl(worker: Worker) -> None:
    job_id, missing = queued_job(worker.client), uuid.uuid4().hex
    task_id = worker.send([task_job(job_id, [ITEM]), task_job(missing, [ITEM])])

    outcome = worker.outcome(task_id)
    assert list(outcome["jobs"]) == [job_id]
    record = worker.record(job_id)
    assert record["status"] == "done"
    assert worker.client.ttl(job_key(job_id)) == -1
    score = worker.client.zscore(FINISHED_JOBS_KEY, job_id)
    assert score == pytest.approx(float(record["finished_at"]), abs=1e-3)
    # A job whose record is gone (deleted, swept) is not brought back.
    assert worker.client.exists(job_key(missing)) == 0
    assert worker.client.zscore(FINISHED_JOBS_KEY, missing) is None


@pytest.fixture
def limited_worker(stack: LocalStack) -> Iterator[Worker]:
    # No soft limit (0): the hard one alone kills the pool process mid-task.
    yield from _worker(stack, TASK_TIME_LIMIT=str(TIME_LIMIT_SECONDS), TASK_SOFT_TIME_LIMIT="0")


TIME_LIMIT_SECONDS = 0.1
# A pool process needs about half a second for these (reading, predicting, keys): five times
# the limit at least, on any machine here.
SLOW_TASK_ITEMS = 200_000


@pytest.mark.slow
def test_the_hard_time_limit_fails_the_tasks_jobs(limited_worker: Worker) -> None:
    worker = limited_worker
    slow, small = queued_job(worker.client), queued_job(worker.client)
    items = [[round(5 + (i % 9_000) * 1e-4, 4), 3.5, 1.4, 0.2] for i in range(SLOW_TASK_ITEMS)]
    task_id = worker.send([task_job(slow, items), task_job(small, [ITEM])])

    outcome = worker.outcome(task_id, timeout=30)
    assert outcome["jobs"] == {
        slow: {"status": "failed", "error": TIME_LIMIT_ERROR},
        small: {"status": "failed", "error": TIME_LIMIT_ERROR},
    }
    for job_id in (slow, small):
        record = worker.record(job_id)
        assert record["status"] == "failed"
        assert record["error"] == TIME_LIMIT_ERROR
    (service,) = [s for s in worker.stack.services if s.name.startswith("worker")]
    assert "Hard time limit" in service.log()
    assert service.alive()
    # The worker goes on: its new pool process runs the next task.
    job_id = queued_job(worker.client)
    assert (
        worker.outcome(worker.send([task_job(job_id, [ITEM])]))["jobs"][job_id]["status"] == "done"
    )
