"""A task that raises marks its jobs failed with a readable error: nothing stays pending."""

from __future__ import annotations

from pathlib import Path

import httpx

from scripts.stack import LocalStack
from tests.faults.models import corrupt_but_consistent_model
from tests.integration.helpers import fresh_item, wait_for_job


def test_a_task_that_raises_fails_its_jobs_with_a_readable_error(
    stack: LocalStack, model_dir: Path
) -> None:
    broken = corrupt_but_consistent_model(model_dir, stack.workdir / "broken-model")
    stack.start_redis()
    worker = stack.start_worker(MODEL_DIR=str(broken))
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        accepted = http.post("/predict?mode=async", json={"items": [fresh_item(), fresh_item()]})
        assert accepted.status_code == 202
        job = wait_for_job(http, accepted.json()["job_id"], timeout=20)
        assert job["status"] == "failed"
        assert job["error"] == "prediction failed: the model could not be loaded"
        assert job["finished_at"] is not None
        assert job["items"] is None

        # A sync-wait request is answered at once with the job's failure, not after its wait.
        response = http.post("/predict?wait=20", json={"items": [fresh_item()]})
        assert response.status_code == 500
        assert response.elapsed.total_seconds() < 10
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["detail"] == "prediction failed: the model could not be loaded"
        assert http.get(f"/jobs/{problem['job_id']}").json()["status"] == "failed"

    # The worker stays up and logs the reason for its operator.
    assert worker.alive()
    assert "could not load the model" in worker.log()
