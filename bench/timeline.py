"""`python -m bench.timeline`: time the queue's cycle per task while wrk drives the stack.

req/s on this machine moves by half between two runs of the same code, so a change to the
queue path is easier judged by where each task's time goes. A listener on the done channel
stamps each task's started and done messages as they pass; after the run, the jobs' records
give when each job was created (gateway) and when its task started and finished (worker).
Nothing in the services is patched or slowed: they publish and record these anyway.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.run import BenchStack
from bench.scenarios import SCENARIOS, run_wrk
from contract.jobs import JobField, job_key
from contract.messages import DONE_CHANNEL, parse

TIMES = (JobField.CREATED_AT, JobField.STARTED_AT, JobField.FINISHED_AT)
# The load is sync: its jobs' records, read after the run, must outlive their answers.
KEEP_ANSWERED_RECORDS = {"ANSWERED_RECORD_SECONDS": "600"}


@dataclass(frozen=True)
class Task:
    """A task whose started message and outcome the listener both saw, and when."""

    task_id: str
    jobs: list[str]
    started_seen: float
    done_seen: float


class DoneChannelListener:
    """Stamps every message on the done channel, from a thread of its own."""

    def __init__(self, redis_url: str) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(DONE_CHANNEL)
        self.messages: list[tuple[float, bytes]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        while not self.stopping.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message is not None:
                self.messages.append((time.time(), message["data"]))

    def __enter__(self) -> DoneChannelListener:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join()
        self.pubsub.close()

    def tasks(self) -> list[Task]:
        """The tasks whose started message and outcome were both seen."""
        started: dict[str, float] = {}
        tasks = []
        for seen, data in self.messages:
            message = parse(data)
            task_id = message["task_id"]
            if task_id is None:
                continue
            if "started" in message:
                started[task_id] = seen
            elif task_id in started and "jobs" in message and message["jobs"]:
                tasks.append(Task(task_id, list(message["jobs"]), started[task_id], seen))
        return tasks

    def job_times(self, tasks: Sequence[Task]) -> dict[str, tuple[float, float, float]]:
        """Each job's created, started and finished time, from its record."""
        pipe = self.client.pipeline(transaction=False)
        ids = [job for task in tasks for job in task.jobs]
        for job in ids:
            pipe.hmget(job_key(job), TIMES)
        return {
            job: (float(created), float(started), float(finished))
            for job, (created, started, finished) in zip(ids, pipe.execute(), strict=True)
            if created and started and finished
        }


def percentiles(values: Sequence[float]) -> tuple[float, float, float]:
    """p10, p50 and p90."""
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 10], ordered[n // 2], ordered[min(n - 1, 9 * n // 10)]


def cycle_steps(
    tasks: Sequence[Task], times: dict[str, tuple[float, float, float]]
) -> dict[str, list[float]]:
    """Seconds each step took, a value per task (per job for a job's own wait).

    The steps between one task and the next read as the worker's cycle with one worker.
    """
    steps: defaultdict[str, list[float]] = defaultdict(list)
    ordered = []
    for task in tasks:
        known = [times[job] for job in task.jobs if job in times]
        if not known:
            continue
        started, finished = known[0][1], known[0][2]
        steps["oldest job of a task created → task starts"].append(
            started - min(created for created, _, _ in known)
        )
        steps["job created → its task starts"].extend(started - c for c, _, _ in known)
        steps["task starts → started message seen"].append(task.started_seen - started)
        steps["task: running marks, forest (started → finished)"].append(finished - started)
        steps["task finished → done message seen"].append(task.done_seen - finished)
        steps["job created → done message seen"].extend(task.done_seen - c for c, _, _ in known)
        ordered.append((started, finished))
    ordered.sort()
    for (start, finish), (next_start, _) in itertools.pairwise(ordered):
        steps["task finished → next task starts"].append(next_start - finish)
        steps["task start → next task start"].append(next_start - start)
    return dict(steps)


def report(tasks: Sequence[Task], steps: dict[str, list[float]]) -> str:
    jobs = [len(task.jobs) for task in tasks]
    lines = [
        f"{len(tasks)} tasks, {sum(jobs) / max(len(jobs), 1):.1f} jobs a task",
        "| step | p10 ms | p50 ms | p90 ms |",
        "|---|---|---|---|",
    ]
    for name, values in steps.items():
        p10, p50, p90 = (1000 * v for v in percentiles(values))
        lines.append(f"| {name} | {p10:.2f} | {p50:.2f} | {p90:.2f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "solo", "threads"])
    args = parser.parse_args(argv)
    bench = BenchStack(Path(tempfile.mkdtemp(prefix="irisq-timeline-")), args.pool)
    try:
        url = bench.start(args.workers, gateway_env=KEEP_ANSWERED_RECORDS)
        run_wrk(url, SCENARIOS["uncached"], args.concurrency, 1)
        with DoneChannelListener(str(bench.stack.redis_url)) as listener:
            figures = run_wrk(url, SCENARIOS["uncached"], args.concurrency, args.seconds)
        tasks = listener.tasks()
        steps = cycle_steps(tasks, listener.job_times(tasks))
    finally:
        bench.stop()
    rps = figures["requests"] / figures["duration_us"] * 1e6
    print(
        f"uncached, concurrency {args.concurrency}, {args.workers} worker(s), {args.pool}: "
        f"{rps:,.0f} req/s, p50 {figures['p50_us'] / 1000:.2f} ms"
    )
    print(report(tasks, steps))


if __name__ == "__main__":
    main()
