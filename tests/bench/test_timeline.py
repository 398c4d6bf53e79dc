"""bench.timeline: its arithmetic, and its listener against a real stack under load."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bench.timeline import (
    KEEP_ANSWERED_RECORDS,
    DoneChannelListener,
    Task,
    cycle_steps,
    percentiles,
)
from scripts.stack import LocalStack


def test_percentiles_are_the_tenth_middle_and_ninetieth_values() -> None:
    assert percentiles([float(v) for v in range(10, 0, -1)]) == (2.0, 6.0, 10.0)
    assert percentiles([3.0]) == (3.0, 3.0, 3.0)


def test_steps_join_the_messages_with_the_records_task_by_task() -> None:
    # Two tasks of one worker: a (jobs a1, a2) then b (job b1). Times in seconds.
    tasks = [
        Task("b", ["b1"], started_seen=10.0125, done_seen=10.0160),
        Task("a", ["a1", "a2"], started_seen=10.0035, done_seen=10.0070),
    ]
    times = {
        "a1": (10.000, 10.003, 10.006),
        "a2": (10.001, 10.003, 10.006),
        "b1": (10.005, 10.012, 10.015),
    }
    steps = {
        name: [round(v * 1000, 3) for v in values]
        for name, values in cycle_steps(tasks, times).items()
    }
    assert steps["oldest job of a task created → task starts"] == [7.0, 3.0]
    assert sorted(steps["job created → its task starts"]) == [2.0, 3.0, 7.0]
    assert steps["task starts → started message seen"] == [0.5, 0.5]
    assert steps["task finished → done message seen"] == [1.0, 1.0]
    # Ordered by start, whatever order the outcomes came in.
    assert steps["task finished → next task starts"] == [6.0]
    assert steps["task start → next task start"] == [9.0]


def test_a_job_without_a_record_leaves_its_task_out() -> None:
    tasks = [Task("a", ["gone"], started_seen=1.0, done_seen=2.0)]
    assert cycle_steps(tasks, {}) == {}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_listener_sees_every_task_of_a_real_load(stack: LocalStack) -> None:
    stack.start_redis()
    stack.start_worker()
    stack.start_gateway(**KEEP_ANSWERED_RECORDS)

    def predict(n: int) -> str:
        # A new petal width each time: every request is a miss, a job of its own.
        width = round(0.01 * (n + 1), 2)
        item = {"sepal_length": 1.1, "sepal_width": 2.2, "petal_length": 3.3, "petal_width": width}
        response = httpx.post(f"{stack.base_url}/predict", json={"items": [item]}, timeout=30)
        response.raise_for_status()
        job_id: str = response.json()["job_id"]
        return job_id

    with DoneChannelListener(str(stack.redis_url)) as listener, ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(predict, range(40)))
    tasks = listener.tasks()
    times = listener.job_times(tasks)

    assert sorted(job for task in tasks for job in task.jobs) == sorted(jobs)
    assert set(times) == set(jobs)
    steps = cycle_steps(tasks, times)
    assert len(steps["task: running marks, forest (started → finished)"]) == len(tasks)
    assert all(v >= 0 for v in steps["job created → its task starts"])
    assert all(v >= 0 for v in steps["task: running marks, forest (started → finished)"])
