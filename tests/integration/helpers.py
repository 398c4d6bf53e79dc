"""Small helpers for tests that talk to the stack over HTTP."""

from __future__ import annotations

import itertools
import random
import re
import time
from typing import Any

import httpx

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
_unique = itertools.count(1)


def fresh_item() -> dict[str, float]:
    """An item no other test has sent: a guaranteed cache miss."""
    n = next(_unique)
    return {
        "sepal_length": round(random.uniform(4, 8), 1) + n * 1e-4 % 0.01,
        "sepal_width": round(random.uniform(2, 4.5), 1),
        "petal_length": round(random.uniform(1, 7), 1),
        "petal_width": round(random.uniform(0.1, 2.5), 1) + (n % 997) * 1e-4 + 1e-4,
    }


def metric(http: httpx.Client, name: str, labels: str = "") -> float:
    """The value of one series in the gateway's /metrics (0 if absent)."""
    text = http.get("/metrics").text
    pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", re.M)
    match = pattern.search(text)
    return float(match.group(1)) if match else 0.0


def wait_for_job(http: httpx.Client, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = http.get(f"/jobs/{job_id}").json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} not finished after {timeout}s")
