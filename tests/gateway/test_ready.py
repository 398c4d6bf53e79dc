"""/ready against real workers: one broadcast ping per cache period, a stopped worker shown."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway.worker_check import WORKER_PING_SECONDS
from scripts.stack import LocalStack
from tests.support.redis_monitor import redis_commands

pytestmark = pytest.mark.slow

READY_CACHE_SECONDS = 2.0
CALLERS = 50
# Celery's control ping is a PUBLISH on the pidbox fanout channel; each worker answers with
# an LPUSH to the asking client's reply queue.
PING = '"PUBLISH" "/0.celery.pidbox"'
REPLY = ".reply.celery.pidbox"
SLACK_SECONDS = 1.5  # scheduling on a busy 2-core machine


def test_ready_pings_the_workers_once_per_cache_period_however_often_it_is_called(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    for _ in range(2):
        stack.start_worker()
    stack.start_gateway(READY_CACHE_SECONDS=str(READY_CACHE_SECONDS))
    with (
        httpx.Client(base_url=stack.base_url, timeout=10) as http,
        ThreadPoolExecutor(max_workers=CALLERS) as pool,
        redis_commands(stack.redis_port, stack.workdir) as seen,
    ):
        started = time.monotonic()
        # A cold cache and 50 callers at once: they share one ping.
        statuses = list(pool.map(lambda _: http.get("/ready").status_code, range(CALLERS)))
        # Then one caller after another for the rest of the second.
        while time.monotonic() - started < 1.0:
            statuses.append(http.get("/ready").status_code)
        elapsed = time.monotonic() - started
    assert set(statuses) == {200}, statuses
    pings = [line for line in seen if PING in line]
    replies = [line for line in seen if '"LPUSH"' in line and REPLY in line]
    print(f"\n{len(statuses)} /ready calls in {elapsed:.2f}s: {len(pings)} ping(s), "
          f"{len(replies)} worker replies")  # fmt: skip
    assert len(statuses) >= CALLERS
    # One ping per cache period, and the calls fit within one period (a second one may start
    # if they took longer on a loaded machine).
    assert 1 <= len(pings) <= 1 + int(elapsed // READY_CACHE_SECONDS), f"{len(pings)} pings"
    assert len(replies) <= 2 * len(pings), f"{len(replies)} replies"


def test_ready_reports_a_worker_that_stops_within_the_cache_bound(stack: LocalStack) -> None:
    stack.start_redis()
    worker = stack.start_worker()
    stack.start_gateway(READY_CACHE_SECONDS=str(READY_CACHE_SECONDS))
    with httpx.Client(base_url=stack.base_url, timeout=10) as http:
        assert http.get("/ready").status_code == 200  # a fresh "ok" in the cache
        stack.stop(worker)
        stopped = time.monotonic()
        bound = READY_CACHE_SECONDS + WORKER_PING_SECONDS + SLACK_SECONDS
        while True:
            answer = http.get("/ready")
            if answer.status_code == 503:
                break
            assert answer.status_code == 200, answer.text
            assert time.monotonic() - stopped < bound, "the stopped worker still counts"
            time.sleep(0.1)
        shown = time.monotonic() - stopped
    print(f"\nworker stopped; /ready answered 503 {shown:.2f}s later")
    assert answer.json()["checks"]["workers"] == "no worker answered", answer.text
    assert shown < bound
