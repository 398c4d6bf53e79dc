"""A task that raises fails its jobs with a readable error; a model that won't load stops
the worker at start instead. Nothing stays pending."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis

from contract.jobs import FINISHED_JOBS_KEY, job_key
from scripts.stack import LocalStack
from tests.faults.bigtask import wait_for_published
from tests.support.items import fresh_item
from tests.support.model_dirs import corrupt_but_consistent_model
from tests.support.workers import refusal_line

SYNC_WAIT_SECONDS = 20
# Gathers the jobs sent while the first task waits for a worker into one task of two jobs.
GATEWAY_ENV = {"COALESCE_MAX_ITEMS": "2", "COALESCE_MAX_WAIT_MS": "15000"}
REDIS_ERROR = "prediction failed: the job store answered with an error (ResponseError)"


def test_a_model_that_matches_its_checksum_but_does_not_load_stops_the_worker(
    stack: LocalStack, model_dir: Path
) -> None:
    broken = corrupt_but_consistent_model(model_dir, stack.workdir / "broken-model")
    stack.start_redis()
    assert "could not be loaded" in refusal_line(stack, broken)

    # No worker announced a model: the gateway says so instead of queueing jobs for nobody.
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=10) as http:
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["model"].startswith("unknown")


def test_a_redis_error_mid_task_fails_its_jobs_and_answers_the_sync_request_at_once(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    stack.start_gateway(**GATEWAY_ENV)
    client = redis.Redis.from_url(str(stack.redis_url), decode_responses=True)
    executor = ThreadPoolExecutor(max_workers=1)
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        # No worker yet: a first task waits in the queue, the next two jobs gather into one.
        assert http.post("/predict?mode=async", json={"items": [fresh_item()]}).status_code == 202
        wait_for_published(http, 1, 10)
        poisoned = http.post("/predict?mode=async", json={"items": [fresh_item()]})
        assert poisoned.status_code == 202

        def sync_request() -> httpx.Response:
            with httpx.Client(base_url=stack.base_url, timeout=60) as own:
                return own.post(
                    f"/predict?wait={SYNC_WAIT_SECONDS}", json={"items": [fresh_item()]}
                )

        response = executor.submit(sync_request)
        wait_for_published(http, 2, 10)
        # A key of the wrong type: the task's first script call fails with WRONGTYPE.
        poisoned_key = job_key(poisoned.json()["job_id"])
        client.delete(poisoned_key)
        client.set(poisoned_key, "not a job record")

        stack.start_worker()
        ready = time.monotonic()
        answer = response.result(timeout=SYNC_WAIT_SECONDS + 10)
        answered = time.monotonic() - ready
        executor.shutdown()

        assert answer.status_code == 500, answer.text
        assert answered < 5, f"answered {answered:.1f}s after the worker started"
        problem = answer.json()
        assert problem["detail"] == REDIS_ERROR
        job = http.get(f"/jobs/{problem['job_id']}").json()
        assert job["status"] == "failed"
        assert job["error"] == REDIS_ERROR
        assert job["finished_at"] is not None
        assert job["items"] is None
        # A failed job's record is kept, answered or not, and without a TTL: the finished
        # index bounds its life.
        assert client.ttl(job_key(problem["job_id"])) == -1
        assert client.zscore(FINISHED_JOBS_KEY, problem["job_id"]) == job["finished_at"]
    # The poisoned key is left as it was: the failure never rewrites what is not a job.
    assert client.get(poisoned_key) == "not a job record"
    client.close()
