"""The retention rule under sustained load: Redis' memory stays bounded, nothing goes dark.

A job answered inside its sync request keeps no record; a job handed back as 202 keeps its
record for JOB_TTL_SECONDS, unless finished records pass RECORDS_MEMORY_SHARE of maxmemory,
when the oldest go first (410 Gone) and never an open one (docs/reliability.md).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import redis

from contract.jobs import FINISHED_BYTES_KEY, FINISHED_JOBS_KEY, OPEN_JOBS_KEY
from scripts.stack import LocalStack, wait_until
from tests.support.items import fresh_body
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric

MAXMEMORY = "16mb"
MAXMEMORY_BYTES = 16 * 1024 * 1024
# The records a day of this load would keep at JOB_TTL_SECONDS' default: far past maxmemory.
LOAD_SECONDS = 25


class MemoryWatch:
    """Samples Redis' used_memory every 0.2 s while the load runs."""

    def __init__(self, store: redis.Redis) -> None:
        self.store = store
        self.samples: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.samples.append(int(self.store.info("memory")["used_memory"]))
            time.sleep(0.2)

    def __enter__(self) -> MemoryWatch:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(5)


def test_sustained_sync_load_keeps_memory_under_the_cap_with_no_refusal(
    stack: LocalStack,
) -> None:
    stack.start_redis(maxmemory=MAXMEMORY)
    store = redis.Redis.from_url(str(stack.redis_url))
    stack.start_worker()
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        # Submitted first, handed back as 202: its record must outlive the load.
        first = http.post("/predict?mode=async", json=fresh_body(100))
        assert first.status_code == 202, first.text
        first_id = first.json()["job_id"]
        assert wait_for_job(http, first_id)["status"] == "done"

        statuses: Counter[int] = Counter()
        items = Counter[str]()
        lock = threading.Lock()
        until = time.monotonic() + LOAD_SECONDS

        def load(size: int) -> None:
            with httpx.Client(base_url=stack.base_url, timeout=30) as own:
                while time.monotonic() < until:
                    response = own.post("/predict", json=fresh_body(size))
                    with lock:
                        statuses[response.status_code] += 1
                        if response.status_code == 200:
                            items[str(size)] += len(response.json()["items"])

        with MemoryWatch(store) as watch, ThreadPoolExecutor(6) as pool:
            list(pool.map(load, [1, 1, 100, 100, 100, 100]))

        answered = sum(statuses.values())
        assert statuses == Counter({200: answered}), statuses
        # A 100-row record holds ~13 kB: a day of them would fill maxmemory twice over or more.
        assert items["100"] * 130 > 2 * MAXMEMORY_BYTES, (
            f"too little load to mean anything: {items}"
        )
        assert max(watch.samples) <= MAXMEMORY_BYTES, max(watch.samples)
        # Answered jobs keep no record: what is left is the first job's, and few others.
        wait_until(lambda: store.zcard(OPEN_JOBS_KEY) == 0, 10, "every job finished")
        wait_until(lambda: store.zcard(FINISHED_JOBS_KEY) <= 1, 10, "answered records deleted")
        assert metric(http, "irisq_job_records_trimmed_total") == 0
        job = http.get(f"/jobs/{first_id}").json()
        assert job["status"] == "done"
        assert len(job["items"]) == 100
    store.close()


def test_async_records_past_their_budget_go_oldest_first_and_answer_410(
    stack: LocalStack,
) -> None:
    stack.start_redis(maxmemory=MAXMEMORY)
    store = redis.Redis.from_url(str(stack.redis_url))
    worker = stack.start_worker()
    stack.start_gateway(SWEEP_INTERVAL_SECONDS="0.2")
    budget = MAXMEMORY_BYTES // 2  # RECORDS_MEMORY_SHARE's default
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:

        def submit(n: int) -> list[str]:
            with httpx.Client(base_url=stack.base_url, timeout=30) as own:
                ids = []
                for _ in range(n):
                    response = own.post("/predict?mode=async", json=fresh_body(100))
                    assert response.status_code == 202, response.text
                    ids.append(response.json()["job_id"])
                return ids

        # About twice the budget, in order: the first half must go.
        accepted = submit(300)
        with ThreadPoolExecutor(3) as pool:
            for ids in pool.map(submit, [300] * 3):
                accepted += ids
        newest = accepted[-50:]
        for job_id in newest:
            assert wait_for_job(http, job_id)["status"] == "done"
        wait_until(lambda: int(store.get(FINISHED_BYTES_KEY) or 0) <= budget, 10, "records trimmed")
        trimmed = metric(http, "irisq_job_records_trimmed_total")
        assert trimmed > 100

        # Open jobs while the budget shrinks: Redis gets less memory, the sweeper trims more.
        stack.stop(worker)
        waiting = submit(20)
        store.config_set("maxmemory", str(MAXMEMORY_BYTES // 2))
        wait_until(
            lambda: int(store.get(FINISHED_BYTES_KEY) or 0) <= budget // 2, 10, "trimmed again"
        )
        assert metric(http, "irisq_job_records_trimmed_total") > trimmed
        for job_id in waiting:
            assert http.get(f"/jobs/{job_id}").json()["status"] == "queued"

        oldest = http.get(f"/jobs/{accepted[0]}")
        assert oldest.status_code == 410, oldest.text
        assert oldest.headers["content-type"].startswith("application/problem+json")
        assert "trimmed" in oldest.json()["detail"]
        assert http.get(f"/jobs/{accepted[0]}/events").status_code == 410
        assert http.get(f"/jobs/{newest[-1]}").json()["status"] == "done"
        # Never a wrong answer for an id that was never ours: still 404.
        assert http.get(f"/jobs/{'0' * 32}").status_code == 404

        stack.start_worker()
        for job_id in waiting:
            assert wait_for_job(http, job_id)["status"] == "done"
        memory = store.info("memory")
        assert int(memory["used_memory"]) <= int(memory["maxmemory"])
    store.close()
