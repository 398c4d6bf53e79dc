"""Soak: 20,000 mixed requests from concurrent clients; no 5xx, no job lost, memory flat."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from scripts.stack import ROOT, LocalStack
from tests.support.items import fresh_item
from tests.support.processes import group_rss_kib, rss_kib

REQUESTS = 20_000
WARMUP_REQUESTS = 1_000
CONCURRENCY = 32
CLIENTS = 8
WORKERS = 2
HOT_ITEMS = 200
# Growth allowed between the end of the warm-up and the end of the soak, per service.
MAX_RSS_GROWTH_KIB = 50 * 1024
ARTIFACT = ROOT / "test-artifacts" / "soak.json"

pytestmark = pytest.mark.soak

HOT = [fresh_item() for _ in range(HOT_ITEMS)]


def request_for(n: int) -> tuple[str, str, dict[str, Any]]:
    """The n-th request of the mix: half cached, the rest uncached sync, async and batches."""
    slot = n % 20
    if slot < 10:
        return "cached", "/predict", {"items": [random.choice(HOT)]}
    if slot < 14:
        return "uncached", "/predict", {"items": [fresh_item()]}
    if slot < 17:
        return "async", "/predict?mode=async", {"items": [fresh_item() for _ in range(1 + n % 5)]}
    items = [random.choice(HOT) for _ in range(10)] + [fresh_item() for _ in range(10)]
    return "batch", "/predict", {"items": items}


@dataclass
class Tally:
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


async def _client(
    http: httpx.AsyncClient, numbers: itertools.count[int], stop: int, t: Tally
) -> None:
    while (n := next(numbers)) < stop:
        kind, url, body = request_for(n)
        started = time.perf_counter()
        try:
            response = await http.post(url, json=body)
        except httpx.HTTPError as exc:
            t.errors.append(f"{kind}: {exc!r}")
            continue
        t.latencies.append(time.perf_counter() - started)
        t.statuses[(kind, response.status_code)] += 1
        if response.status_code == 202:
            t.jobs.append(response.json()["job_id"])
        elif response.status_code >= 500:
            t.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")


async def _drive(base_url: str, count: int, tally: Tally) -> float:
    # Several small clients: one httpx pool shared by 32 tasks spends more time scanning
    # its connections than sending (~300 req/s); 8 pools of 4 send ~3x as fast.
    per_client = CONCURRENCY // CLIENTS
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    clients = [
        httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) for _ in range(CLIENTS)
    ]
    numbers = itertools.count()
    started = time.perf_counter()
    try:
        await asyncio.gather(
            *(_client(http, numbers, count, tally) for http in clients for _ in range(per_client))
        )
        return time.perf_counter() - started
    finally:
        for http in clients:
            await http.aclose()


async def _finished_jobs(base_url: str, job_ids: list[str], seconds: float) -> Counter[str]:
    """Each job's final status, read with the same concurrency."""
    outcome: Counter[str] = Counter()
    queue = list(job_ids)
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        async def reader() -> None:
            while queue:
                job_id = queue.pop()
                while True:
                    status = (await http.get(f"/jobs/{job_id}")).json()["status"]
                    if status in ("done", "failed") or time.monotonic() > deadline:
                        outcome[status] += 1
                        break
                    await asyncio.sleep(0.1)

        await asyncio.gather(*(reader() for _ in range(CONCURRENCY)))
    return outcome


def _memory(stack: LocalStack) -> dict[str, int]:
    gateway = next(s for s in stack.services if s.name == "gateway")
    workers = [s for s in stack.services if s.name.startswith("worker")]
    return {
        "gateway_rss_kib": rss_kib(gateway.pid),
        "workers_rss_kib": sum(group_rss_kib(w.pid) for w in workers),
    }


def test_soak_20000_mixed_requests_no_5xx_no_lost_job_flat_memory(stack: LocalStack) -> None:
    stack.start_redis()
    for _ in range(WORKERS):
        stack.start_worker()
    stack.start_gateway()
    at_start = _memory(stack)

    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        assert http.post("/predict", json={"items": HOT}).status_code == 200  # the hot set

    warmup = Tally()
    asyncio.run(_drive(stack.base_url, WARMUP_REQUESTS, warmup))
    assert not warmup.errors, warmup.errors[:5]
    after_warmup = _memory(stack)

    tally = Tally()
    seconds = asyncio.run(_drive(stack.base_url, REQUESTS, tally))
    after = _memory(stack)
    jobs = asyncio.run(_finished_jobs(stack.base_url, warmup.jobs + tally.jobs, seconds=60))

    latencies = sorted(tally.latencies)
    report = {
        "requests": REQUESTS,
        "concurrency": CONCURRENCY,
        "workers": WORKERS,
        "seconds": round(seconds, 2),
        "requests_per_second": round(REQUESTS / seconds, 1),
        "latency_p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "statuses": {f"{kind} {status}": n for (kind, status), n in sorted(tally.statuses.items())},
        "async_jobs": len(warmup.jobs) + len(tally.jobs),
        "async_job_outcomes": dict(jobs),
        "rss_kib": {"at_start": at_start, "after_warmup": after_warmup, "after_soak": after},
    }
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(report, indent=2) + "\n")
    print("\nsoak:", json.dumps(report, indent=2))

    assert not tally.errors, tally.errors[:5]
    assert sum(tally.statuses.values()) == REQUESTS
    assert all(status < 500 for _, status in tally.statuses), tally.statuses
    assert jobs == Counter(done=len(warmup.jobs) + len(tally.jobs)), jobs
    for key in after:
        growth = after[key] - after_warmup[key]
        assert growth < MAX_RSS_GROWTH_KIB, f"{key} grew {growth} KiB during the soak"
