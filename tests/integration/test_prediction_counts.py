"""The gateway's prediction counters count every item answered, whichever way it was asked."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest

from scripts.stack import LocalStack, wait_until
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job
from tests.support.metrics import by_label

N = 6


@pytest.mark.slow
def test_sync_and_async_items_are_each_counted_once(stack: LocalStack) -> None:
    stack.start_redis()
    stack.start_worker()
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        sync_items = [fresh_item() for _ in range(N)]
        answered = http.post("/predict?wait=20", json={"items": sync_items})
        assert answered.status_code == 200, answered.text
        classes = Counter(item["prediction"] for item in answered.json()["items"])

        # Async: two items now cached (from the sync answer) and N - 2 the model computes.
        async_items = sync_items[:2] + [fresh_item() for _ in range(N - 2)]
        accepted = http.post("/predict?mode=async", json={"items": async_items})
        assert accepted.status_code == 202, accepted.text
        job = wait_for_job(http, accepted.json()["job_id"])
        assert job["status"] == "done"
        assert [item["cached"] for item in job["items"]] == [True] * 2 + [False] * (N - 2)
        classes.update(item["prediction"] for item in job["items"])

        def total() -> float:
            return sum(by_label(http, "irisq_predictions_total", "source").values())

        wait_until(lambda: total() >= 2 * N, 10, "the async job's items to be counted")
        time.sleep(0.5)  # a second count of the same job would show by now
        by_source = by_label(http, "irisq_predictions_total", "source")
        assert by_source == {"cache": 2.0, "model": 2 * N - 2.0}
        by_class = by_label(http, "irisq_predictions_by_class_total", "prediction")
        assert by_class == {k: float(v) for k, v in classes.items()}
        assert sum(by_class.values()) == 2 * N
