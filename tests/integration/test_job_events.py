"""GET /jobs/{id}/events: a job's progress pushed as server-sent events, against a real Redis,
real workers and the real gateway. Jobs are opened with the gateway's own script and sent as
Celery tasks when a test says (tests/support/event_streams.py), or posted to /predict."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import Celery

from contract.jobs import JOB_KEY_PREFIX, JobField, JobStatus, job_key
from contract.tasks import TASK_NAME
from gateway.dispatcher import create_celery_client
from gateway.settings import Settings
from scripts.stack import LocalStack, wait_until
from tests.support.event_streams import (
    EventParser,
    open_jobs,
    send_jobs,
    stream,
)
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric, parse, value
from tests.support.problems import assert_safe_problem
from tests.support.processes import started_stack

# Keep-alive comments every half second: an idle stream shows them within a test's patience,
# and every read of a stream returns within it.
KEEPALIVE = "0.5"
STREAMS = 300
GATEWAY_ENV = {"MAX_EVENT_STREAMS": str(STREAMS), "EVENT_KEEPALIVE_SECONDS": KEEPALIVE}


@pytest.fixture(scope="module")
def events_stack(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[LocalStack]:
    """Redis, a worker and a gateway that serves STREAMS event streams at most."""
    with started_stack(tmp_path_factory.mktemp("stack"), model_dir, **GATEWAY_ENV) as local:
        yield local


@pytest.fixture
def http(events_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=events_stack.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def store(events_stack: LocalStack) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(str(events_stack.redis_url)) as client:
        yield client


@pytest.fixture
def celery(events_stack: LocalStack) -> Iterator[Celery]:
    app = create_celery_client(Settings(redis_url=str(events_stack.redis_url)))
    yield app
    app.close()


def test_a_job_streams_queued_running_done_in_order_as_get_jobs_shows_them(
    http: httpx.Client, store: redis.Redis, celery: Celery
) -> None:
    # Opened and sent here, not by the gateway: the stream follows any gateway's job.
    (job_id,) = open_jobs(store, 1)
    with stream(http, job_id) as events:
        assert events.response.headers["cache-control"] == "no-cache"
        assert events.response.headers["x-accel-buffering"] == "no"
        queued = events.next()
        assert queued is not None
        assert events.parser.retry == 1000
        assert (queued.name, queued.id) == ("queued", 1)
        assert queued.data == http.get(f"/jobs/{job_id}").json()

        send_jobs(celery, [job_id])
        rest = events.rest()

    assert [(e.name, e.id) for e in rest] == [("running", 2), ("done", 3)]
    running, done = (e.data for e in rest)
    assert done == http.get(f"/jobs/{job_id}").json()
    assert done["items"][0]["prediction"] == "setosa"
    # The running view is the record's as it was: its start time to the last digit.
    assert running == {
        **queued.data,
        "status": "running",
        "started_at": done["started_at"],
    }


def test_a_sync_and_an_async_job_stream_queued_running_done(stack: LocalStack) -> None:
    stack.start_redis()
    stack.start_gateway(EVENT_KEEPALIVE_SECONDS=KEEPALIVE)  # no worker yet: the jobs wait
    executor = ThreadPoolExecutor(max_workers=1)
    with (
        httpx.Client(base_url=stack.base_url, timeout=30) as http,
        redis.Redis.from_url(str(stack.redis_url)) as store,
    ):
        accepted = http.post("/predict?mode=async", json={"items": [fresh_item()]})
        assert accepted.status_code == 202
        async_id = accepted.json()["job_id"]
        assert accepted.json()["events_url"] == f"/jobs/{async_id}/events"

        def sync_request() -> httpx.Response:
            with httpx.Client(base_url=stack.base_url, timeout=40) as own:
                return own.post("/predict?wait=30", json={"items": [fresh_item()]})

        sync_answer = executor.submit(sync_request)
        wait_until(lambda: len(store.keys(JOB_KEY_PREFIX + "*")) == 2, 10, "the sync job")
        (sync_key,) = set(store.keys(JOB_KEY_PREFIX + "*")) - {job_key(async_id).encode()}
        sync_id = sync_key.decode().removeprefix(JOB_KEY_PREFIX)

        with stream(http, async_id) as async_events, stream(http, sync_id) as sync_events:
            for events in (async_events, sync_events):
                first = events.next()
                assert first is not None
                assert first.name == "queued"
            stack.start_worker()
            async_rest, sync_rest = async_events.rest(), sync_events.rest()
        answer = sync_answer.result(timeout=30)
        executor.shutdown()

        assert [e.name for e in async_rest] == ["running", "done"]
        assert [e.name for e in sync_rest] == ["running", "done"]
        assert answer.status_code == 200, answer.text
        assert answer.json()["items"] == sync_rest[-1].data["items"]
        assert async_rest[-1].data == http.get(f"/jobs/{async_id}").json()


def test_a_failing_job_streams_failed_with_its_error(
    http: httpx.Client, store: redis.Redis, celery: Celery
) -> None:
    (job_id,) = open_jobs(store, 1)
    with stream(http, job_id) as events:
        assert events.next() is not None
        # Items the worker cannot read: the task fails its job.
        celery.send_task(TASK_NAME, args=[[{"job_id": job_id, "items": "four numbers"}]])
        rest = events.rest()

    assert [e.name for e in rest] == ["running", "failed"]
    failed = rest[-1].data
    assert failed == http.get(f"/jobs/{job_id}").json()
    assert failed["error"].startswith("prediction failed")
    assert failed["items"] is None


def test_a_finished_job_sends_the_states_it_passed_through_at_once_and_ends(
    http: httpx.Client,
) -> None:
    # Async: a job answered inside its sync request keeps no record to stream.
    answer = http.post("/predict?mode=async", json={"items": [fresh_item()]})
    assert answer.status_code == 202
    job_id = answer.json()["job_id"]
    wait_for_job(http, job_id)
    with stream(http, job_id, timeout=5) as events:
        rest = events.rest()
    assert [(e.name, e.id) for e in rest] == [("queued", 1), ("running", 2), ("done", 3)]
    done = http.get(f"/jobs/{job_id}").json()
    assert rest[2].data == done
    # Each earlier state as GET /jobs/{id} showed it then: no later field is filled in.
    assert rest[0].data == {
        **done,
        "status": "queued",
        "started_at": None,
        "finished_at": None,
        "model_version": None,
        "items": None,
    }
    assert rest[1].data == {**rest[0].data, "status": "running", "started_at": done["started_at"]}
    # A reconnecting client saw those already: it gets the current state only.
    with stream(http, job_id, headers={"Last-Event-ID": "3"}, timeout=5) as events:
        again = events.rest()
    assert [(e.name, e.id) for e in again] == [("done", 4)]


def test_unknown_jobs_get_a_404_problem_like_get_jobs(http: httpx.Client) -> None:
    for job_id in ("0" * 32, "not-a-job"):
        response = http.get(f"/jobs/{job_id}/events")
        body = assert_safe_problem(response, 404)
        assert body["detail"] == http.get(f"/jobs/{job_id}").json()["detail"]


def test_a_reconnecting_client_gets_the_current_state_again_with_ids_after_its_last(
    http: httpx.Client, store: redis.Redis
) -> None:
    (job_id,) = open_jobs(store, 1)
    for last_event_id, first_id in (("7", 8), ("not a number", 1)):
        with stream(http, job_id, headers={"Last-Event-ID": last_event_id}) as events:
            event = events.next()
            assert event is not None
            assert (event.name, event.id) == ("queued", first_id)


def test_an_idle_stream_carries_keep_alive_comments(http: httpx.Client, store: redis.Redis) -> None:
    (job_id,) = open_jobs(store, 1)
    with stream(http, job_id, timeout=5) as events:
        assert events.next() is not None
        events.until(lambda parser: len(parser.comments) >= 2)
    assert set(events.parser.comments) == {"keep-alive"}


def test_a_client_that_leaves_gives_its_stream_back(http: httpx.Client, store: redis.Redis) -> None:
    (job_id,) = open_jobs(store, 1)
    _no_streams_open(http)
    with stream(http, job_id) as events:
        assert events.next() is not None
        assert metric(http, "irisq_event_streams") == 1
    wait_until(lambda: metric(http, "irisq_event_streams") == 0, 5, "the stream to close")
    assert http.get(f"/jobs/{job_id}").json()["status"] == "queued"


def _no_streams_open(http: httpx.Client) -> None:
    # The streams of the tests before are closed, but the gateway may still be freeing them.
    wait_until(lambda: metric(http, "irisq_event_streams") == 0, 5, "no stream open")


async def _follow(
    client: httpx.AsyncClient,
    job_id: str,
    opened: asyncio.Queue[str],
    leave: asyncio.Event | None = None,
) -> list[str]:
    """A stream's event names; `opened` hears of its first. With `leave`, the client closes
    the stream once `leave` is set."""
    names = []
    parser = EventParser()
    async with client.stream("GET", f"/jobs/{job_id}/events") as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if (event := parser.line(line)) is not None:
                names.append(event.name)
                if len(names) == 1:
                    opened.put_nowait(job_id)
                    if leave is not None:
                        await leave.wait()
                        break
    return names


async def _streams_gauge(client: httpx.AsyncClient) -> float:
    return value(parse((await client.get("/metrics")).text), "irisq_event_streams")


async def _gauge_reaches(client: httpx.AsyncClient, count: int) -> None:
    deadline = time.monotonic() + 5
    while await _streams_gauge(client) != count:
        assert time.monotonic() < deadline, f"the gateway never counted {count} streams open"
        await asyncio.sleep(0.05)


async def _hundreds_of_streams(base_url: str, job_ids: list[str], celery: Celery) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=STREAMS + 10)
    seen: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) as client:
        opened: asyncio.Queue[str] = asyncio.Queue()
        stayers = [asyncio.create_task(_follow(client, job_id, opened)) for job_id in job_ids[1:]]
        leave = asyncio.Event()
        leaver = asyncio.create_task(_follow(client, job_ids[0], opened, leave))
        for _ in job_ids:
            await opened.get()
        seen["open"] = await _streams_gauge(client)
        seen["past the bound"] = await client.get(f"/jobs/{job_ids[0]}/events")
        # One client leaves: its slot comes back, and its job can be streamed again.
        leave.set()
        await leaver
        await _gauge_reaches(client, STREAMS - 1)
        stayers.append(asyncio.create_task(_follow(client, job_ids[0], opened)))
        await opened.get()

        started = time.monotonic()
        send_jobs(celery, job_ids)  # one publish: a few milliseconds of this loop
        seen["names"] = await asyncio.gather(*stayers)
        seen["seconds to every done"] = time.monotonic() - started
        await _gauge_reaches(client, 0)
    return seen


def test_hundreds_of_streams_each_get_their_done_and_one_more_gets_a_503(
    events_stack: LocalStack, http: httpx.Client, store: redis.Redis, celery: Celery
) -> None:
    _no_streams_open(http)
    job_ids = open_jobs(store, STREAMS)
    seen = asyncio.run(
        asyncio.wait_for(_hundreds_of_streams(events_stack.base_url, job_ids, celery), 60)
    )

    assert seen["open"] == STREAMS
    refused = seen["past the bound"]
    assert_safe_problem(refused, 503)
    assert refused.headers["retry-after"].isdigit()
    assert all(names == ["queued", "running", "done"] for names in seen["names"]), [
        names for names in seen["names"] if names != ["queued", "running", "done"]
    ][:3]
    print(f"\n{STREAMS} streams: every done within {seen['seconds to every done']:.2f} s")


def test_streams_read_their_records_when_the_subscription_comes_back(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    stack.start_gateway(EVENT_KEEPALIVE_SECONDS=KEEPALIVE)
    with (
        httpx.Client(base_url=stack.base_url, timeout=10) as http,
        redis.Redis.from_url(str(stack.redis_url)) as store,
    ):
        (job_id,) = open_jobs(store, 1)
        with stream(http, job_id, timeout=10) as events:
            assert events.next() is not None
            # The job fails while the gateway hears nothing of it: no message is published.
            store.hset(
                job_key(job_id),
                mapping={
                    JobField.STATUS: JobStatus.FAILED,
                    JobField.FINISHED_AT: time.time(),
                    JobField.ERROR: "prediction failed: test",
                },
            )
            # The gateway's subscription drops; once it is back, the stream reads its record.
            assert store.client_kill_filter(_type="pubsub") >= 1
            rest = events.rest()
        assert [e.name for e in rest] == ["failed"]
        assert rest[0].data == http.get(f"/jobs/{job_id}").json()


def test_streams_end_when_the_gateway_stops(stack: LocalStack) -> None:
    stack.start_redis()
    gateway = stack.start_gateway(EVENT_KEEPALIVE_SECONDS=KEEPALIVE)
    with (
        httpx.Client(base_url=stack.base_url, timeout=10) as http,
        redis.Redis.from_url(str(stack.redis_url)) as store,
    ):
        (job_id,) = open_jobs(store, 1)
        with stream(http, job_id, timeout=10) as events:
            assert events.next() is not None
            stopping = time.monotonic()
            gateway.terminate()
            with contextlib.suppress(httpx.RemoteProtocolError):
                assert events.rest() == []
            ended = time.monotonic() - stopping
    assert stack.stop(gateway) in (0, -signal.SIGTERM)
    assert "timeout graceful shutdown exceeded" not in gateway.log()
    # Well before uvicorn's graceful timeout (10 s), which would cut the stream off.
    assert ended < 3, f"the stream ended {ended:.1f} s after SIGTERM"
