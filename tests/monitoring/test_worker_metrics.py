"""Worker metrics: every pool process counted once, served by the worker's main process."""

from __future__ import annotations

import base64
import json
import re
import struct
from pathlib import Path

import pytest
import redis
from celery import Celery

from contract.jobs import JobField, job_key
from contract.tasks import TASK_NAME, TaskJob, task_job
from scripts.stack import LocalStack, free_port, wait_until
from tests.support.job_records import queued_job
from tests.support.metrics import scrape, value
from tests.support.workers import start_worker_with_args

SETOSA = [5.1, 3.5, 1.4, 0.2]
N_TASKS = 12
TASKS_PER_CHILD = 3


def _send(app: Celery, store: redis.Redis, jobs: list[list[list[float]]]) -> str:
    """One task carrying these jobs; returns its jobs' final status once all have one.

    The predict task keeps no Celery result: its outcome is in the job records.
    """
    # The worker writes only records the gateway opened: open them as it does.
    return _send_payload(app, store, [task_job(queued_job(store), rows) for rows in jobs])


def _send_payload(app: Celery, store: redis.Redis, payload: list[TaskJob]) -> str:
    app.send_task(TASK_NAME, args=[payload])

    def statuses() -> set[bytes | None]:
        return {store.hget(job_key(job["job_id"]), JobField.STATUS) for job in payload}

    wait_until(lambda: statuses() <= {b"done", b"failed"}, 30, "the task's jobs")
    (status,) = statuses()
    assert status is not None
    return status.decode()


@pytest.mark.slow
def test_every_task_is_counted_once_across_pool_processes_that_come_and_go(
    stack: LocalStack, model_dir: Path, tmp_path: Path
) -> None:
    stack.start_redis()
    port = free_port()
    files = tmp_path / "metric-files"
    # Two children, each replaced after a few tasks: the dead ones' counts must still be served.
    worker = start_worker_with_args(
        stack,
        "churn",
        [f"--max-tasks-per-child={TASKS_PER_CHILD}"],
        WORKER_CONCURRENCY="2",
        WORKER_METRICS_PORT=str(port),
        PROMETHEUS_MULTIPROC_DIR=str(files),
    )
    shapes = [[1 + i % 4] * (1 + i % 3) for i in range(N_TASKS)]
    app = Celery("irisq-test", broker=stack.redis_url)
    store = redis.Redis.from_url(str(stack.redis_url))
    try:
        states = [_send(app, store, [[SETOSA] * n for n in shape]) for shape in shapes]
        # Three values where the task wants rows of four: the worker's own validation fails
        # the task.
        three = base64.b64encode(struct.pack("<3d", 1.0, 2.0, 3.0)).decode()
        malformed: TaskJob = {"job_id": queued_job(store), "rows": three}
        assert _send_payload(app, store, [malformed]) == "failed"
    finally:
        app.close()
        store.close()
    assert states == ["done"] * N_TASKS

    url = f"http://127.0.0.1:{port}/metrics"
    # The counters move just after the result is stored: wait for them, then check exactly.
    wait_until(lambda: value(scrape(url), "irisq_worker_tasks_total") >= N_TASKS + 1, 10, "counts")
    samples = scrape(url)
    assert value(samples, "irisq_worker_tasks_total", outcome="success") == N_TASKS
    assert value(samples, "irisq_worker_tasks_total", outcome="failure") == 1
    assert value(samples, "irisq_worker_jobs_per_task_count") == N_TASKS
    assert value(samples, "irisq_worker_jobs_per_task_sum") == sum(len(s) for s in shapes)
    assert value(samples, "irisq_worker_items_per_task_sum") == sum(sum(s) for s in shapes)
    assert value(samples, "irisq_worker_inference_seconds_count") == N_TASKS
    assert value(samples, "irisq_worker_inference_seconds_sum") > 0
    version = json.loads((model_dir / "model_metadata.json").read_text())["version"]
    info = {
        dict(ls)["version"]: v for (n, ls), v in samples.items() if n == "irisq_worker_model_info"
    }
    assert info == {version: 1.0}

    # The tasks really ran in more processes than the pool has at once.
    children = set(re.findall(r"(ForkPoolWorker-\d+) irisq\.task task=", worker.log()))
    assert len(children) > 2, children

    # A restarted worker with the same directory starts from zero, not from its predecessor.
    stack.stop(worker)
    start_worker_with_args(
        stack, "restarted", [], WORKER_METRICS_PORT=str(port), PROMETHEUS_MULTIPROC_DIR=str(files)
    )
    wait_until(lambda: value(scrape(url), "irisq_worker_model_info") == 1, 10, "model info")
    samples = scrape(url)
    assert value(samples, "irisq_worker_tasks_total") == 0
    assert value(samples, "irisq_worker_jobs_per_task_count") == 0


def test_port_zero_serves_no_metrics(stack: LocalStack) -> None:
    stack.start_redis()
    worker = stack.start_worker(WORKER_METRICS_PORT="0")
    assert "metrics on http" not in worker.log()
    assert worker.alive()
