"""`python -m bench.celery_floor`: what Celery alone costs per task on this machine.

One worker process (`-c 1`) drains a queue kept full of tasks that do nothing, so every CPU
second it spends (main and pool process) is Celery's own work per task: the
floor under any task irisq sends. One line per configuration: irisq's own, then with one part
of it changed. The publishing side is timed too: `send_task` with a held producer, as CPU of
the sending process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.floor_app import READY_KEY, TASK, create_floor_app
from bench.run import cpu_seconds
from scripts.stack import LocalStack, Service, wait_until

# kombu's Redis transport: the default queue's list and the hash of unacknowledged tasks.
QUEUE = "celery"
UNACKED = "unacked"


@dataclass(frozen=True)
class Config:
    name: str
    pool: str = "prefork"
    acks_late: bool = True
    events: str = "batched"  # off, stock (-E as it comes) or batched (irisq's step)

    def env(self, broker_url: str) -> dict[str, str]:
        return {
            "FLOOR_BROKER_URL": broker_url,
            "FLOOR_ACKS_LATE": "1" if self.acks_late else "0",
            "FLOOR_EVENTS": self.events,
        }


CONFIGS = {
    c.name: c
    for c in (
        Config("irisq"),
        Config("solo pool", pool="solo"),
        Config("no events", events="off"),
        Config("acks on receipt", acks_late=False),
        Config("stock events", events="stock"),
    )
}


@dataclass(frozen=True)
class Floor:
    config: str
    tasks: int
    seconds: float
    worker_cpu: float
    publish_cpu: float

    def line(self) -> str:
        return (
            f"| {self.config} | {self.tasks / self.seconds:,.0f} | "
            f"{self.worker_cpu / self.tasks * 1e6:,.0f} | "
            f"{self.publish_cpu / self.tasks * 1e6:,.0f} |"
        )


def measure(stack: LocalStack, config: Config, tasks: int) -> Floor:
    """Start a worker, fill its queue, and time the worker's CPU until it is drained."""
    broker_url = str(stack.redis_url)
    client = redis.Redis.from_url(broker_url)
    client.flushdb()
    env = {**os.environ, **config.env(broker_url), "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "celery", "-A", "bench.floor_app", "worker", "-P", config.pool]
    argv += ["-c", "1", "--without-mingle", "--without-gossip", "-l", "WARNING"]
    if config.events != "off":
        argv.append("-E")
    log = stack.workdir / "logs" / f"floor-{config.name.replace(' ', '-')}.log"
    worker = Service("floor-worker", argv, env, log).start()

    def check_alive() -> None:
        if not worker.alive():
            raise RuntimeError(f"the floor worker exited:\n{worker.log()[-3000:]}")

    try:
        wait_until(lambda: bool(client.exists(READY_KEY)) or not worker.alive(), 30, "worker")
        check_alive()
        app = create_floor_app(config.env(broker_url))
        # Tasks go in while the worker drains them: the sender is faster, so the queue
        # stays full; the worker's CPU counts from the first send to the drain.
        worker_before = cpu_seconds(worker.pid)
        started = time.monotonic()
        with app.producer_or_acquire() as producer:
            publish_before = time.process_time()
            for n in range(tasks):
                app.send_task(TASK, args=[n], producer=producer)
            publish_cpu = time.process_time() - publish_before
        while client.llen(QUEUE) or client.hlen(UNACKED):
            check_alive()
            time.sleep(0.002)
        seconds = time.monotonic() - started
        worker_cpu = cpu_seconds(worker.pid) - worker_before
    finally:
        worker.stop()
    return Floor(config.name, tasks, seconds, worker_cpu, publish_cpu)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    args = parser.parse_args(argv)
    stack = LocalStack(workdir=Path(tempfile.mkdtemp(prefix="irisq-floor-")))
    try:
        stack.start_redis()
        print(f"{args.tasks} tasks that do nothing, one worker process (-c 1)")
        print("| configuration | tasks/s | worker CPU µs/task | send_task CPU µs/task |")
        print("|---|---|---|---|")
        for name in args.configs:
            print(measure(stack, CONFIGS[name], args.tasks).line(), flush=True)
    finally:
        stack.stop_all()


if __name__ == "__main__":
    main()
