"""The gateway restarted while async jobs run: their results are readable afterwards."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import httpx

from scripts.stack import LocalStack
from tests.faults.bigtask import GATEWAY_ENV, queue_big_task, wait_until_running
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job


def test_gateway_killed_while_its_jobs_run_then_restarted_serves_their_results(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    gateway = stack.start_gateway(**GATEWAY_ENV)
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        task = queue_big_task(stack.base_url, http)
        try:
            stack.start_worker()
            wait_until_running(http, task.job_ids[0])
            gateway.signal(signal.SIGKILL)  # no graceful anything
            stack.stop(gateway)
            stack.start_gateway()
            for job_id in [task.tiny_job, *task.job_ids]:
                job = wait_for_job(http, job_id, timeout=60)
                assert job["status"] == "done", job
                assert job["items"], job
        finally:
            task.close()


def test_gateway_stopped_right_after_accepting_jobs_loses_none(stack: LocalStack) -> None:
    stack.start_redis()
    stack.start_worker()
    gateway = stack.start_gateway()

    def send(_: int) -> str:
        with httpx.Client(base_url=stack.base_url, timeout=30) as own:
            items = [fresh_item() for _ in range(50)]
            response = own.post(
                "/predict", json={"items": items}, headers={"Prefer": "respond-async"}
            )
            assert response.status_code == 202
            job_id: str = response.json()["job_id"]
            return job_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        job_ids = list(pool.map(send, range(64)))
    # SIGTERM at once: jobs may still be gathering in the dispatcher; shutdown must send them.
    # uvicorn re-raises the SIGTERM after its graceful shutdown: -15 is a clean stop here.
    assert stack.stop(gateway) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in gateway.log()
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        for job_id in job_ids:
            job = wait_for_job(http, job_id, timeout=30)
            assert job["status"] == "done", job
            assert len(job["items"]) == 50


def test_gateway_stopped_while_jobs_gather_sends_them_before_exiting(stack: LocalStack) -> None:
    stack.start_redis()
    # No worker: the first task stays in flight, so the next jobs gather for up to 10 s.
    gateway = stack.start_gateway(MAX_TASKS_IN_FLIGHT="1", COALESCE_MAX_WAIT_MS="10000")
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        job_ids = [
            http.post("/predict?mode=async", json={"items": [fresh_item()]}).json()["job_id"]
            for _ in range(10)
        ]
        stack.stop(gateway)
        stack.start_worker()
        stack.start_gateway()
        for job_id in job_ids:
            assert wait_for_job(http, job_id, timeout=30)["status"] == "done"
