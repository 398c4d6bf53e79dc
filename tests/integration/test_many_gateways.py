"""Several gateways on one Redis: as compose's replicas (a port each) and as `make run
GATEWAYS=N` runs them (one port, REUSE_PORT, metric files summed)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from scripts.stack import LocalStack, Service, free_port, listening, wait_until
from tests.support.event_streams import open_jobs, stream
from tests.support.items import fresh_body, fresh_item
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric
from tests.support.processes import discard_stack, new_stack

pytestmark = pytest.mark.slow

# Celery's default queue: the list the gateways push tasks to.
QUEUE = "celery"


@contextlib.contextmanager
def two_gateways(stack: LocalStack, **env: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Redis and two gateways with `env`, each on ports of its own as compose's replicas;
    no worker yet."""
    stack.start_redis()
    stack.start_gateway(**env)
    port = free_port()
    stack.start_gateway("gateway-b", API_PORT=str(port), GRPC_PORT=str(free_port()), **env)
    with (
        httpx.Client(base_url=stack.base_url, timeout=30) as a,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as b,
    ):
        yield a, b


@pytest.fixture
def replicas(stack: LocalStack) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with two_gateways(stack) as clients:
        yield clients


def submit_async(http: httpx.Client, items: int = 1) -> str:
    response = http.post("/predict", json=fresh_body(items), headers={"Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def test_a_job_submitted_through_one_gateway_is_read_and_streamed_through_another(
    stack: LocalStack, replicas: tuple[httpx.Client, httpx.Client]
) -> None:
    a, b = replicas
    job_id = submit_async(a, items=3)
    assert b.get(f"/jobs/{job_id}").json()["status"] == "queued"
    with stream(b, job_id) as events:
        queued = events.next()
        assert queued is not None
        assert queued.name == "queued"
        stack.start_worker()
        rest = events.rest()
    assert [e.name for e in rest] == ["running", "done"]
    job = wait_for_job(b, job_id)
    assert rest[-1].data == job
    assert job["status"] == "done"
    assert len(job["items"]) == 3
    assert a.get(f"/jobs/{job_id}").json() == job


def test_each_gateway_holds_its_own_tasks_in_flight_bound_and_coalesces_its_own_jobs(
    stack: LocalStack,
) -> None:
    """MAX_TASKS_IN_FLIGHT and coalescing hold per process: with no worker and a bound of
    one, each gateway publishes one task and gathers its later jobs into its next; once a
    worker comes, every job ends done, in two tasks per gateway."""
    env = {"MAX_TASKS_IN_FLIGHT": "1", "COALESCE_MAX_WAIT_MS": "60000"}
    with two_gateways(stack, **env) as (a, b):
        job_ids = {http: [submit_async(http) for _ in range(10)] for http in (a, b)}
        client = redis.Redis.from_url(str(stack.redis_url))
        wait_until(lambda: client.llen(QUEUE) == 2, 10, "one task queued by each gateway")
        time.sleep(1.0)
        assert client.llen(QUEUE) == 2
        assert [metric(http, "irisq_tasks_published_total") for http in (a, b)] == [1.0, 1.0]

        stack.start_worker()
        for http, ids in job_ids.items():
            # Each job read through the other gateway.
            other = b if http is a else a
            assert {wait_for_job(other, job_id)["status"] for job_id in ids} == {"done"}
            assert metric(http, "irisq_jobs_submitted_total", mode="async") == 10
            # The first job alone, then the nine gathered behind it.
            assert metric(http, "irisq_tasks_published_total") == 2


def test_every_sync_waiter_is_woken_by_its_own_gateway(
    stack: LocalStack, replicas: tuple[httpx.Client, httpx.Client]
) -> None:
    """Concurrent sync requests through both gateways, whose tasks one worker finishes in
    turn: each request gets its own items back, and each gateway counts only its own jobs."""
    a, b = replicas
    stack.start_worker()
    bodies = [fresh_body(2) for _ in range(60)]

    def ask(index: int) -> tuple[int, httpx.Response]:
        # Each thread's own connection: the requests overlap and coalesce.
        base_url = str((a if index % 2 else b).base_url)
        with httpx.Client(base_url=base_url, timeout=30) as http:
            return index, http.post("/predict", json=bodies[index])

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(ask, range(len(bodies))))
    for index, response in answers:
        assert response.status_code == 200, response.text
        # The same rows, asked again through the other gateway, come from the cache entries
        # the worker wrote for them: a request answered with another's items would differ.
        again = (b if index % 2 else a).post("/predict", json=bodies[index]).json()["items"]
        assert {item["cached"] for item in again} == {True}
        answer = [(i["prediction"], i["probabilities"]) for i in response.json()["items"]]
        assert answer == [(i["prediction"], i["probabilities"]) for i in again]
    submitted = [metric(http, "irisq_jobs_submitted_total", mode="sync") for http in (a, b)]
    assert submitted == [30.0, 30.0]
    assert [metric(http, "irisq_sync_wait_timeouts_total") for http in (a, b)] == [0.0, 0.0]


def cpu_seconds(service: Service) -> float:
    """The process's user + system CPU time, from /proc (clock ticks)."""
    fields = Path(f"/proc/{service.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_gateways_sharing_one_port_split_its_connections_and_sum_their_metrics(
    tmp_path: Path, model_dir: Path
) -> None:
    stack = new_stack(tmp_path / "stack", model_dir)
    try:
        stack.start_redis()
        stack.start_worker()
        gateways = stack.start_gateways(2)
        assert all(listening(g, stack.api_port) for g in gateways)
        assert all(listening(g, stack.grpc_port) for g in gateways)
        body = {"items": [fresh_item()]}
        requests_per_connection = 60
        connections = 16

        def ask(_: int) -> list[int]:
            # A connection of its own: the kernel gives each to one of the processes.
            with httpx.Client(base_url=stack.base_url, timeout=30) as http:
                return [
                    http.post("/predict", json=body).status_code
                    for _ in range(requests_per_connection)
                ]

        before = [cpu_seconds(g) for g in gateways]
        with ThreadPoolExecutor(connections) as pool:
            statuses = [s for answers in pool.map(ask, range(connections)) for s in answers]
        used = [cpu_seconds(g) - b for g, b in zip(gateways, before, strict=True)]
        assert statuses == [200] * (connections * requests_per_connection)
        # Both served: each used at least a fifth of their CPU (idle, a process uses ~none).
        assert min(used) >= 0.2 * sum(used), used

        total = connections * requests_per_connection
        # Whichever process answers, /metrics counts every process's requests.
        for _ in range(4):
            with httpx.Client(base_url=stack.base_url, timeout=30) as http:
                answered = metric(
                    http, "http_requests_total", method="POST", route="/predict", status="200"
                )
                assert answered == total
                assert metric(http, "irisq_waiting_requests") == 0

        # A gauge read from a function (open event streams) is summed too: a queued job's
        # stream, open on whichever process took its connection, shows in every scrape.
        (job_id,) = open_jobs(redis.Redis.from_url(str(stack.redis_url)), 1)
        with httpx.Client(base_url=stack.base_url, timeout=30) as http, stream(http, job_id):

            def streams() -> float:
                with httpx.Client(base_url=stack.base_url, timeout=30) as other:
                    return metric(other, "irisq_event_streams")

            wait_until(lambda: streams() == 1, 10, "the open stream counted")
        wait_until(lambda: streams() == 0, 10, "the closed stream uncounted")

        # One process stops: the other holds the port; the stopped one's counts stay.
        stack.stop(gateways[0])
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            assert http.post("/predict", json=body).status_code == 200
            answered = metric(
                http, "http_requests_total", method="POST", route="/predict", status="200"
            )
            assert answered == total + 1
    finally:
        discard_stack(stack)
