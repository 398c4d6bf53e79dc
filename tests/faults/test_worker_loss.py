"""Workers killed or stopped in the middle of a task: every job still completes, once."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from scripts.stack import LocalStack, Service
from tests.faults.bigtask import (
    GATEWAY_ENV,
    ITEMS_PER_JOB,
    BigTask,
    queue_big_task,
    wait_until_running,
)
from tests.support.items import fresh_item
from tests.support.jobs import job_status, wait_for_job
from tests.support.processes import children

# The task's own line, logged once it has written the results of one job or more (a run
# that finds every job finished logs jobs=0).
SUCCEEDED = re.compile(r"irisq\.task task=([0-9a-f-]+) jobs=[1-9]")
# The gateway's TASK_REDELIVERY_SECONDS, and the period of its check.
REDELIVERY_SECONDS = 3.0


@pytest.fixture
def big(stack: LocalStack) -> Iterator[tuple[httpx.Client, BigTask]]:
    stack.start_redis()
    stack.start_gateway(**GATEWAY_ENV)
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        task = queue_big_task(stack.base_url, http)
        try:
            yield http, task
        finally:
            task.close()


def _succeeded(*workers: Service) -> Counter[str]:
    return Counter(m for w in workers for m in SUCCEEDED.findall(w.log()))


def _assert_every_item_answered_once(http: httpx.Client, task: BigTask) -> None:
    for job_id in [task.tiny_job, *task.job_ids]:
        job = wait_for_job(http, job_id, timeout=60)
        assert job["status"] == "done", job
        assert len(job["items"]) == (1 if job_id == task.tiny_job else ITEMS_PER_JOB)
    response = task.sync_response.result(timeout=60)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == ITEMS_PER_JOB


def test_sigkill_of_the_pool_process_mid_task_requeues_it_at_once(
    stack: LocalStack, big: tuple[httpx.Client, BigTask]
) -> None:
    http, task = big
    worker = stack.start_worker()
    (pool_process,) = children(worker.pid)
    wait_until_running(http, task.job_ids[0])

    os.kill(pool_process, signal.SIGKILL)  # the process running the task, not the worker
    assert job_status(http, task.job_ids[0]) == "running", "the kill came too late"

    started = time.monotonic()
    _assert_every_item_answered_once(http, task)
    # task_reject_on_worker_lost: the worker's main process requeues the task at once.
    assert time.monotonic() - started < 20
    assert worker.alive()
    assert "WorkerLostError" in worker.log()
    succeeded = _succeeded(worker)
    assert len(succeeded) == 2, succeeded
    assert set(succeeded.values()) == {1}, succeeded


def test_sigkill_of_a_whole_worker_mid_task_has_the_gateway_send_it_again(
    stack: LocalStack, big: tuple[httpx.Client, BigTask]
) -> None:
    http, task = big
    first = stack.start_worker()
    wait_until_running(http, task.job_ids[0])

    first.signal(signal.SIGKILL)  # main process and pool together: nobody hands it back
    killed = time.monotonic()
    held = http.get(f"/jobs/{task.job_ids[0]}").json()
    assert held["status"] == "running", "the kill came too late"
    second = stack.start_worker()

    _assert_every_item_answered_once(http, task)
    done_after = time.monotonic() - killed
    rerun = http.get(f"/jobs/{task.job_ids[0]}").json()
    # The gateway sent the task again once its outcome was TASK_REDELIVERY_SECONDS overdue,
    # long before kombu's visibility timeout (60 s) would have given it back.
    gap = rerun["started_at"] - held["started_at"]
    print(
        f"\nwhole-worker SIGKILL: rerun started {gap:.1f}s after the first run, "
        f"done {done_after:.1f}s after the kill"
    )
    assert REDELIVERY_SECONDS - 0.5 < gap < REDELIVERY_SECONDS + 10, gap
    assert len(_succeeded(first)) == 1  # the tiny task only
    assert len(_succeeded(second)) == 1  # the big one, once
    assert not set(_succeeded(first)) & set(_succeeded(second))


def test_sigterm_while_busy_finishes_the_task_then_exits(
    stack: LocalStack, big: tuple[httpx.Client, BigTask]
) -> None:
    http, task = big
    worker = stack.start_worker()
    wait_until_running(http, task.job_ids[0])

    worker.signal(signal.SIGTERM, group=False)  # what docker stop / systemd send
    assert worker.popen is not None
    # Jobs sent while it shuts down wait in Redis for the next worker.
    later = [
        http.post("/predict?mode=async", json={"items": [fresh_item()]}).json()["job_id"]
        for _ in range(5)
    ]
    assert worker.popen.wait(timeout=60) == 0
    _assert_every_item_answered_once(http, task)
    assert len(_succeeded(worker)) == 2  # it finished the task it held (warm shutdown)
    assert all(job_status(http, job_id) == "queued" for job_id in later)

    stack.start_worker()
    for job_id in later:
        assert wait_for_job(http, job_id, timeout=30)["status"] == "done"
