"""Under memory pressure only cache entries go; a store full of open work refuses new jobs.

Redis runs with a small `maxmemory` and the policy compose and `make run` use (volatile-lru).
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import redis

from contract.cache_keys import cache_key
from gateway.errors import STORE_FULL
from scripts.stack import LocalStack, wait_until
from tests.support.items import fresh_body
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric

# Room for the job records the test leaves (~16 kB for each 100-item request: the results,
# ~19 MB in all, below the gateway's high water of 80 %) and a cache smaller than what is
# written to it (~36 MB of entries).
MAXMEMORY = "32mb"


def _async_job(http: httpx.Client, items: int = 1) -> str:
    response = http.post("/predict?mode=async", json=fresh_body(items))
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def _fill_cache_directly(client: redis.Redis, megabytes: int) -> None:
    """Cache entries as workers write them, `megabytes` of them, far past maxmemory."""
    value = b'{"prediction":"setosa","class_index":0,"probabilities":{"setosa":1.0}}'
    for _ in range(megabytes * 5):
        with client.pipeline(transaction=False) as pipe:
            for _ in range(1_000):
                row = [random.uniform(1, 99) for _ in range(4)]
                pipe.set(cache_key(row, "filler"), value, ex=3600)
            pipe.execute()


def test_a_cache_filled_far_past_maxmemory_evicts_no_job_record_and_no_queued_task(
    stack: LocalStack,
) -> None:
    stack.start_redis(maxmemory=MAXMEMORY)
    store = redis.Redis.from_url(str(stack.redis_url))
    worker = stack.start_worker()
    # 100-item requests use the cache here, so that they fill it through the real path.
    stack.start_gateway(CACHE_MAX_ITEMS="100")
    jobs: list[str] = []
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        jobs += [_async_job(http) for _ in range(50)]
        for job_id in jobs:
            assert wait_for_job(http, job_id)["status"] == "done"

        # Uncached 100-item requests fill the cache far past maxmemory (each writes ~20 kB of
        # cache entries); async jobs keep being written meanwhile.
        def fill(n: int) -> list[str]:
            written = []
            with httpx.Client(base_url=stack.base_url, timeout=30) as own:
                for i in range(n):
                    if i % 10 == 0:
                        written.append(_async_job(own))
                    response = own.post("/predict", json=fresh_body(100))
                    assert response.status_code == 200, response.text
            return written

        with ThreadPoolExecutor(4) as pool:
            for written in pool.map(fill, [300] * 4):
                jobs += written
        assert int(store.info("stats")["evicted_keys"]) > 0, "the cache never hit maxmemory"

        # Tasks waiting in the queue while the cache is filled past maxmemory again.
        stack.stop(worker)
        queued = [_async_job(http, items=20) for _ in range(30)]
        evicted = int(store.info("stats")["evicted_keys"])
        _fill_cache_directly(store, megabytes=30)
        assert int(store.info("stats")["evicted_keys"]) > evicted + 50_000
        stack.start_worker()
        for job_id in [*jobs, *queued]:
            job = wait_for_job(http, job_id, timeout=30)
            assert job["status"] == "done", job
    store.close()


def test_a_store_full_of_jobs_refuses_new_work_and_keeps_what_it_accepted(
    stack: LocalStack,
) -> None:
    stack.start_redis(maxmemory="4mb")
    store = redis.Redis.from_url(str(stack.redis_url))
    worker = stack.start_worker()
    stack.start_gateway(SWEEP_INTERVAL_SECONDS="0.1")
    accepted: list[str] = []
    refused = None
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        # One answer in the cache, then no worker: every accepted job and its task stay in
        # Redis as open work.
        known = fresh_body(1)
        assert http.post("/predict", json=known).status_code == 200
        stack.stop(worker)
        for _ in range(5_000):
            response = http.post("/predict?mode=async", json=fresh_body(100))
            if response.status_code == 503:
                refused = response
                break
            assert response.status_code == 202, response.text
            accepted.append(response.json()["job_id"])
        assert refused is not None, "the store never filled"
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["detail"] == STORE_FULL
        assert refused.headers["retry-after"] == "5"
        assert len(accepted) > 100
        # Refused at the high water, before Redis itself refuses a write.
        memory = store.info("memory")
        assert int(memory["used_memory"]) < int(memory["maxmemory"])
        # Only requests that need a new job are refused: a cache hit and a job read are
        # answered.
        hit = http.post("/predict", json=known)
        assert hit.status_code == 200, hit.text
        assert hit.json()["items"][0]["cached"] is True
        assert http.get(f"/jobs/{accepted[0]}").json()["status"] == "queued"
        assert http.post("/predict", json=fresh_body(1)).status_code == 503
        assert http.post("/predict", json=fresh_body(100)).status_code == 503
        assert metric(http, "irisq_store_full_refusals_total") >= 3

        # Nothing accepted was dropped: give Redis room, as an operator would, and every
        # accepted job completes.
        store.config_set("maxmemory", "512mb")
        wait_until(
            lambda: http.post("/predict?mode=async", json=fresh_body(1)).status_code == 202,
            10,
            "room for new work",
        )
        stack.start_worker()
        for job_id in accepted:
            assert wait_for_job(http, job_id, timeout=60)["status"] == "done"
    store.close()
