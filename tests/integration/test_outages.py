"""Parts of the stack missing: jobs wait instead of vanishing, outages answer 503."""

from __future__ import annotations

import time

import httpx
import pytest

from scripts.stack import LocalStack, wait_until
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job

pytestmark = pytest.mark.slow


def test_without_workers_sync_wait_answers_202_then_the_job_completes(stack: LocalStack) -> None:
    stack.start_redis()
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        started = time.monotonic()
        response = http.post("/predict?wait=1", json={"items": [fresh_item(), fresh_item()]})
        elapsed = time.monotonic() - started
        assert response.status_code == 202
        assert 1.0 <= elapsed < 5.0
        job_id = response.json()["job_id"]
        assert http.get(f"/jobs/{job_id}").json()["status"] == "queued"
        assert http.get("/metrics").text.count("irisq_sync_wait_timeouts_total 1.0") == 1

        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["workers"] == "no worker answered"

        stack.start_worker()
        job = wait_for_job(http, job_id, timeout=30)
        assert job["status"] == "done"
        assert len(job["items"]) == 2
        wait_until(lambda: http.get("/ready").status_code == 200, 15, "ready")


def test_redis_down_gives_503_and_the_gateway_recovers_by_itself(stack: LocalStack) -> None:
    stack.start_redis()
    stack.start_worker()
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        assert http.post("/predict", json={"items": [fresh_item()]}).status_code == 200

        stack.stop_redis()
        started = time.monotonic()
        response = http.post("/predict", json={"items": [fresh_item()]})
        assert response.status_code == 503
        assert time.monotonic() - started < 5
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "Redis" in response.json()["detail"]
        assert http.get(f"/jobs/{'a' * 32}").status_code == 503
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"].startswith("unreachable")
        assert http.get("/health").status_code == 200

        stack.start_redis()  # same port, empty data
        wait_until(
            lambda: http.post("/predict", json={"items": [fresh_item()]}).status_code == 200,
            30,
            "predictions after Redis came back",
        )
        wait_until(lambda: http.get("/ready").status_code == 200, 30, "ready after Redis")
