"""No job stays open past JOB_TIMEOUT_SECONDS, whatever became of its task."""

from __future__ import annotations

import httpx

from scripts.stack import LocalStack
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job


def test_a_job_no_worker_takes_fails_at_its_deadline_and_wakes_its_waiter(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    # No worker at all: the task waits in the queue, and only the deadline can end its jobs.
    stack.start_gateway(JOB_TIMEOUT_SECONDS="1.5", SWEEP_INTERVAL_SECONDS="0.2")
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        accepted = http.post("/predict?mode=async", json={"items": [fresh_item()]})
        assert accepted.status_code == 202
        # The waiting request is answered at the deadline with the failure, not at its wait.
        response = http.post("/predict?wait=20", json={"items": [fresh_item()]})
        assert response.status_code == 500
        assert response.elapsed.total_seconds() < 10
        problem = response.json()
        assert "not finished within JOB_TIMEOUT_SECONDS (1.5 s)" in problem["detail"]

        job = wait_for_job(http, accepted.json()["job_id"], timeout=10)
        assert job["status"] == "failed"
        assert job["error"] == problem["detail"]
        assert job["finished_at"] is not None
        assert http.get(f"/jobs/{problem['job_id']}").json()["status"] == "failed"
