"""A gateway told to stop answers every request still waiting for a job before it exits."""

from __future__ import annotations

import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson

from scripts.stack import LocalStack, wait_until
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric

WAITING = 50


def test_sigterm_answers_every_waiting_sync_request_202_and_their_jobs_complete(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    gateway = stack.start_gateway()  # no worker: every sync request waits for its job

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=stack.base_url, timeout=40) as own:
            return own.post("/predict?wait=30", json={"items": [fresh_item()]})

    with (
        ThreadPoolExecutor(max_workers=WAITING) as pool,
        httpx.Client(base_url=stack.base_url, timeout=10) as http,
    ):
        pending = [pool.submit(send, n) for n in range(WAITING)]
        wait_until(
            lambda: metric(http, "irisq_waiting_requests") == WAITING, 20, "requests waiting"
        )
        stopped = time.monotonic()
        gateway.signal(signal.SIGTERM, group=False)
        responses = [future.result(timeout=30) for future in pending]
    answered = time.monotonic() - stopped

    # Well inside uvicorn's 10 s graceful timeout: released, not cancelled at its end.
    assert answered < 5, f"answered {answered:.1f}s after SIGTERM"
    assert [r.status_code for r in responses] == [202] * WAITING, {r.text for r in responses}
    job_ids = [r.json()["job_id"] for r in responses]
    assert [r.headers["location"] for r in responses] == [f"/jobs/{j}" for j in job_ids]
    assert len(set(job_ids)) == WAITING
    assert stack.stop(gateway) in (0, -signal.SIGTERM)
    assert "timeout graceful shutdown exceeded" not in gateway.log()

    stack.start_worker()
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=10) as http:
        for job_id in job_ids:
            job = wait_for_job(http, job_id, timeout=30)
            assert job["status"] == "done", job
            assert len(job["items"]) == 1


def test_a_request_completed_after_the_stop_began_does_not_wait(stack: LocalStack) -> None:
    stack.start_redis()
    gateway = stack.start_gateway()
    body = orjson.dumps({"items": [fresh_item()]})
    head = (
        f"POST /predict?wait=30 HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=10) as sock:
        sock.sendall(head + body[:5])
        time.sleep(0.3)  # the request's task runs, reading its body
        gateway.signal(signal.SIGTERM, group=False)
        wait_until(lambda: "Shutting down" in gateway.log(), 5, "the shutdown to begin")
        time.sleep(0.2)
        sent = time.monotonic()
        sock.sendall(body[5:])
        response = b""
        while b"\r\n\r\n" not in response and (chunk := sock.recv(65536)):
            response += chunk
    assert response.startswith(b"HTTP/1.1 202 "), response
    assert time.monotonic() - sent < 3
    assert stack.stop(gateway) in (0, -signal.SIGTERM)
