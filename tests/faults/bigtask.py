"""One Celery task long enough to be caught mid-flight, built through the real gateway.

The flat forest answers 1,000 items in ~10 ms, too fast to kill a worker honestly in the
middle. So: with no worker running, one tiny job goes out first and stays in flight; with
MAX_TASKS_IN_FLIGHT=1 the gateway then gathers every following job into the next task,
sent when COALESCE_MAX_ITEMS items have gathered. That task (tens of thousands of items)
takes a worker process about a second, long enough to watch it start and kill it.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric

JOBS = 40
ITEMS_PER_JOB = 1000

GATEWAY_ENV = {
    "MAX_TASKS_IN_FLIGHT": "1",
    "COALESCE_MAX_ITEMS": str(JOBS * ITEMS_PER_JOB),
    "COALESCE_MAX_WAIT_MS": "15000",
}


@dataclass
class BigTask:
    tiny_job: str
    job_ids: list[str]
    # A sync-wait request whose job travels in the big task: it must be answered once.
    sync_response: Future[httpx.Response]
    executor: ThreadPoolExecutor

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def wait_for_published(http: httpx.Client, count: int, timeout: float) -> None:
    """Until the gateway has published `count` tasks in all."""
    deadline = time.monotonic() + timeout
    while metric(http, "irisq_tasks_published_total") < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gateway did not publish {count} tasks in {timeout}s")
        time.sleep(0.05)


def queue_big_task(base_url: str, http: httpx.Client) -> BigTask:
    """Queue [tiny task, big task] in Redis; no worker may run yet."""
    tiny = http.post("/predict?mode=async", json={"items": [fresh_item()]})
    assert tiny.status_code == 202, tiny.text
    wait_for_published(http, 1, 10)

    job_ids = []
    for _ in range(JOBS - 1):
        body = {"items": [fresh_item() for _ in range(ITEMS_PER_JOB)]}
        response = http.post("/predict?mode=async", json=body)
        assert response.status_code == 202, response.text
        job_ids.append(response.json()["job_id"])

    executor = ThreadPoolExecutor(max_workers=1)

    def sync_request() -> httpx.Response:
        body = {"items": [fresh_item() for _ in range(ITEMS_PER_JOB)]}
        with httpx.Client(base_url=base_url, timeout=90) as own:
            return own.post("/predict?wait=60", json=body)

    sync_response = executor.submit(sync_request)
    wait_for_published(http, 2, 15)
    return BigTask(tiny.json()["job_id"], job_ids, sync_response, executor)


def wait_until_running(http: httpx.Client, job_id: str, timeout: float = 30) -> None:
    """Until the big task's job runs; polled often, as the task runs for about a second."""
    wait_for_job(http, job_id, timeout, statuses={"running"}, poll=0.005)
