"""Redis refuses the gateway's publishes a while: the jobs wait, then go in bounded tasks."""

from __future__ import annotations

import time

import httpx
import redis

from contract.tasks import TaskJob, row_count
from scripts.stack import LocalStack, wait_until
from tests.support.celery_queue import task_jobs
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric

COALESCE_MAX_ITEMS = 4
# (items per job, jobs): 37 items, one job larger than the bound, which travels alone.
JOB_SIZES = [1, 3, 1, 1, 7, 3, 1, 2, 1, 3, 1, 1, 4, 1, 3, 1, 1, 2]
QUEUE = "celery"


def queued_tasks(client: redis.Redis) -> list[list[TaskJob]]:
    """The jobs of every task waiting in Celery's queue, oldest first."""
    tasks = []
    for raw in reversed(client.lrange(QUEUE, 0, -1)):
        tasks.append(task_jobs(raw))
    return tasks


def test_jobs_held_through_refused_publishes_go_out_within_coalesce_max_items(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    # No worker yet: the tasks stay in the queue, where the test reads them.
    stack.start_gateway(COALESCE_MAX_ITEMS=str(COALESCE_MAX_ITEMS))
    client = redis.Redis.from_url(str(stack.redis_url), socket_timeout=5)
    submitted: dict[str, int] = {}
    with httpx.Client(base_url=stack.base_url, timeout=10) as http:
        # Redis refuses the command Celery publishes with (LPUSH onto the queue); the job
        # records and the cache, which the requests need, stay writable.
        client.acl_setuser("default", enabled=True, commands=["-lpush"])
        try:
            for size in JOB_SIZES:
                answer = http.post(
                    "/predict?mode=async", json={"items": [fresh_item() for _ in range(size)]}
                )
                assert answer.status_code == 202, answer.text
                submitted[answer.json()["job_id"]] = size
                time.sleep(0.02)  # spread over the dispatcher's retries
            wait_until(lambda: metric(http, "irisq_publish_errors_total") >= 3, 15, "retries")
            assert client.llen(QUEUE) == 0
        finally:
            client.acl_setuser("default", enabled=True, commands=["+lpush"])

        def all_queued() -> bool:
            jobs = [job for task in queued_tasks(client) for job in task]
            return len(jobs) >= len(submitted)

        wait_until(all_queued, 15, "every job published")
        tasks = queued_tasks(client)
        print(f"\n{len(submitted)} jobs, {sum(JOB_SIZES)} items -> tasks of "
              f"{[sum(row_count(j) for j in task) for task in tasks]} items")  # fmt: skip
        for task in tasks:
            items = sum(row_count(job) for job in task)
            assert items <= COALESCE_MAX_ITEMS or len(task) == 1, (len(task), items)
        jobs = [job["job_id"] for task in tasks for job in task]
        assert sorted(jobs) == sorted(submitted), "a job lost or sent twice"
        # Sent in the order they came.
        assert jobs == list(submitted)

        stack.start_worker()
        for job_id, size in submitted.items():
            job = wait_for_job(http, job_id, timeout=30)
            assert job["status"] == "done", job
            assert len(job["items"]) == size
