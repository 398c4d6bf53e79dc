"""bench.celery_floor: its figures, and one measurement against a real Redis and worker."""

from __future__ import annotations

import pytest

from bench.celery_floor import CONFIGS, Floor, measure
from scripts.stack import LocalStack


def test_a_line_gives_rate_and_cpu_per_task() -> None:
    floor = Floor("irisq", tasks=2000, seconds=2.5, worker_cpu=2.0, publish_cpu=0.8)
    assert floor.line() == "| irisq | 800 | 1,000 | 400 |"


def test_each_configuration_changes_one_part_of_irisqs() -> None:
    irisq = CONFIGS["irisq"].env("redis://x")
    assert irisq["FLOOR_ACKS_LATE"] == "1"
    assert irisq["FLOOR_EVENTS"] == "batched"
    assert CONFIGS["solo pool"].pool == "solo"
    for name in ("no events", "acks on receipt"):
        changed = {k for k, v in CONFIGS[name].env("redis://x").items() if irisq[k] != v}
        assert len(changed) == 1, name


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_real_worker_drains_every_task(stack: LocalStack) -> None:
    stack.start_redis()
    floor = measure(stack, CONFIGS["irisq"], tasks=200)
    # `measure` returns only once the queue is empty and nothing is left unacknowledged.
    assert floor.tasks == 200
    assert floor.seconds > 0
    assert floor.worker_cpu > 0
    assert floor.publish_cpu > 0
