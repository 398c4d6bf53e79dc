"""Jobs sent while no worker runs wait in Redis, complete once one starts, stay readable."""

from __future__ import annotations

import time

import httpx
import redis

from contract.jobs import FINISHED_JOBS_KEY, job_key
from scripts.stack import LocalStack
from tests.support.items import SETOSA, fresh_item
from tests.support.jobs import wait_for_job


def test_async_jobs_sent_without_workers_complete_once_one_starts(stack: LocalStack) -> None:
    stack.start_redis()
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        batches = [[fresh_item() for _ in range(n)] for n in (1, 7, 250)]
        batches.append([SETOSA, fresh_item(), SETOSA])
        job_ids = []
        for items in batches:
            response = http.post(
                "/predict", json={"items": items}, headers={"Prefer": "respond-async"}
            )
            assert response.status_code == 202
            job_ids.append(response.json()["job_id"])

        time.sleep(1.0)  # nothing serves them, and nothing drops them either
        for job_id in job_ids:
            job = http.get(f"/jobs/{job_id}").json()
            assert job["status"] == "queued"
            assert job["started_at"] is None

        stack.start_worker()
        finished = {}
        for job_id, items in zip(job_ids, batches, strict=True):
            job = wait_for_job(http, job_id, timeout=30)
            finished[job_id] = job["finished_at"]
            assert job["status"] == "done"
            assert len(job["items"]) == len(items)
            assert job["created_at"] <= job["started_at"] <= job["finished_at"]

    # Readable for JOB_TTL_SECONDS from when it finished: the finished index says when, and the
    # record carries no TTL (so memory pressure never evicts it).
    with redis.Redis.from_url(str(stack.redis_url)) as client:
        for job_id in job_ids:
            assert client.ttl(job_key(job_id)) == -1
            assert client.zscore(FINISHED_JOBS_KEY, job_id) == finished[job_id]


def test_a_finished_job_is_readable_until_its_ttl_then_404(stack: LocalStack) -> None:
    ttl = 3
    stack.start_redis()
    stack.start_worker()
    stack.start_gateway(JOB_TTL_SECONDS=str(ttl))
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        response = http.post("/predict?mode=async", json={"items": [fresh_item()]})
        job_id = response.json()["job_id"]
        assert wait_for_job(http, job_id, timeout=10)["status"] == "done"
        finished = time.monotonic()
        assert http.get(f"/jobs/{job_id}").status_code == 200

        deadline = finished + ttl + 5
        while http.get(f"/jobs/{job_id}").status_code == 200:
            assert time.monotonic() < deadline, "the job outlived JOB_TTL_SECONDS"
            time.sleep(0.1)
        assert time.monotonic() - finished > ttl - 1
        gone = http.get(f"/jobs/{job_id}")
        assert gone.status_code == 404
        assert gone.headers["content-type"].startswith("application/problem+json")
