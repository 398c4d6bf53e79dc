"""Jobs read back through the gateway's /jobs/{job_id}."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import httpx

FINISHED = ("done", "failed")


def job_status(http: httpx.Client, job_id: str) -> str:
    status: str = http.get(f"/jobs/{job_id}").json()["status"]
    return status


def wait_for_job(
    http: httpx.Client,
    job_id: str,
    timeout: float = 30,
    statuses: Collection[str] = FINISHED,
    poll: float = 0.05,
) -> dict[str, Any]:
    """The job's body once its status is one of `statuses` (by default: once it has ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = http.get(f"/jobs/{job_id}").json()
        if body["status"] in statuses:
            return body
        time.sleep(poll)
    raise TimeoutError(f"job {job_id} not {' or '.join(statuses)} after {timeout}s")
