"""Redis restarted under load: 503 problems meanwhile, no 500, no hang, recovery by itself."""

from __future__ import annotations

import time

import httpx

from scripts.stack import LocalStack, wait_until
from tests.faults.load import SYNC_WAIT_SECONDS, Load
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job
from tests.support.processes import wait_ready

REDIS_TIMEOUT_SECONDS = 2  # the gateway's default bound on one Redis call
# Every answer must come before this: a sync wait, plus a Redis call that times out on each
# side of it, plus scheduling slack on a busy 2-core machine.
DEADLINE_SECONDS = SYNC_WAIT_SECONDS + 2 * REDIS_TIMEOUT_SECONDS + 2
OUTAGE_SECONDS = 5


def test_redis_restarted_under_load_answers_503_then_recovers_by_itself(
    stack: LocalStack,
) -> None:
    # Append-only, like compose's Redis: queued tasks and job records survive the restart.
    stack.start_redis(append_only=True)
    # Tasks a worker held when Redis vanished come back after the visibility timeout.
    for _ in range(2):
        stack.start_worker(VISIBILITY_TIMEOUT="5")
    gateway = stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http, Load(stack.base_url) as load:
        wait_until(lambda: load.statuses()[200] >= 30, 30, "load under way")

        down = time.monotonic()
        stack.stop_redis()
        wait_until(lambda: load.statuses(since=down)[503] >= 10, 20, "503s during the outage")
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"].startswith("application/problem+json")
        assert ready.json()["checks"]["redis"].startswith("unreachable")
        assert http.get("/health").status_code == 200
        time.sleep(max(0.0, down + OUTAGE_SECONDS - time.monotonic()))

        stack.start_redis(append_only=True)
        up = time.monotonic()
        wait_ready(http, 45, "ready after the restart")
        recovered = time.monotonic()
        wait_until(lambda: load.statuses(since=recovered)[200] >= 30, 30, "answers after it")
        print(f"\nRedis down {up - down:.1f}s; ready again {recovered - up:.1f}s after restart")

    answers = load.answers
    slowest = max(a.seconds for a in answers)
    print(f"{len(answers)} requests: {dict(load.statuses())}; slowest {slowest:.2f}s")
    assert gateway.alive(), "the gateway must recover without a restart"
    assert all(a.status != 500 for a in answers), "a 500 during the outage"
    assert all(a.status != 0 for a in answers), "a connection failed"
    for answer in answers:
        assert answer.status in (200, 202, 503) or (answer.kind == "job" and answer.status == 404)
        assert answer.seconds < DEADLINE_SECONDS, answer
        if answer.status >= 400:
            assert answer.content_type.startswith("application/problem+json"), answer
            assert "Traceback" not in answer.body
            assert "127.0.0.1" not in answer.body
    outage = load.statuses(since=down + REDIS_TIMEOUT_SECONDS, until=up)
    assert outage[503] > 0, outage
    assert outage[200] + outage[202] <= outage[503], outage

    # Every job the gateway accepted (202) completes: none was lost in the restart.
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        for job_id in set(load.accepted_jobs):
            job = wait_for_job(http, job_id, timeout=60)
            assert job["status"] == "done", job
        assert http.post("/predict", json={"items": [fresh_item()]}).status_code == 200
