"""A client that leaves while its sync request waits stops the wait; its job still completes."""

from __future__ import annotations

import socket

import httpx
import orjson
import redis

from contract.jobs import JOB_KEY_PREFIX
from scripts.stack import LocalStack, wait_until
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric


def test_a_client_that_disconnects_stops_waiting_and_its_job_still_completes(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    stack.start_gateway()  # no worker: the request waits its full 30 s unless it notices
    body = orjson.dumps({"items": [fresh_item()]})
    head = (
        f"POST /predict?wait=30 HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with (
        httpx.Client(base_url=stack.base_url, timeout=10) as http,
        redis.Redis.from_url(str(stack.redis_url)) as store,
    ):
        sock = socket.create_connection(("127.0.0.1", stack.api_port), timeout=10)
        sock.sendall(head + body)
        wait_until(lambda: metric(http, "irisq_waiting_requests") == 1, 10, "the request to wait")
        [key] = store.keys(JOB_KEY_PREFIX + "*")
        job_id = key.decode().removeprefix(JOB_KEY_PREFIX)
        sock.close()

        wait_until(lambda: metric(http, "irisq_waiting_requests") == 0, 3, "the wait to end")
        assert metric(http, "irisq_sync_wait_seconds_count") == 1
        assert metric(http, "irisq_sync_wait_timeouts_total") == 0
        # The job stays open, to be counted when its outcome arrives.
        assert metric(http, "irisq_open_jobs") == 1
        assert http.get(f"/jobs/{job_id}").json()["status"] == "queued"

        stack.start_worker()
        job = wait_for_job(http, job_id, timeout=30)
        assert job["status"] == "done", job
        assert len(job["items"]) == 1
        wait_until(lambda: metric(http, "irisq_open_jobs") == 0, 5, "the job to close")
        assert metric(http, "irisq_predictions_total", source="model") == 1
