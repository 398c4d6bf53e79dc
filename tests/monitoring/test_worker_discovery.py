"""A worker's own entry for Prometheus' file-based discovery (worker/discovery.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from scripts.stack import LocalStack, free_port, wait_until
from worker import discovery


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(10)
    return child.pid


def test_a_worker_announces_its_metrics_while_it_runs(stack: LocalStack) -> None:
    stack.start_redis()
    folder = stack.worker_targets_dir
    folder.mkdir(parents=True)
    # Left by a worker that was killed outright: the next worker to start removes it.
    stale = discovery.target_file(folder, _dead_pid())
    stale.write_text("[]")
    port = free_port()
    name = f"irisq@announced-{os.getpid()}"
    worker = stack.start_worker(WORKER_METRICS_PORT=str(port), WORKER_NAME=name)

    path = discovery.target_file(folder, worker.pid)
    wait_until(path.exists, 10, "the worker's discovery file")
    assert json.loads(path.read_text()) == [
        {"targets": [f"127.0.0.1:{port}"], "labels": {"worker": name}}
    ]
    assert not stale.exists()

    stack.stop(worker)
    assert list(folder.iterdir()) == []


def test_a_worker_without_metrics_announces_nothing(stack: LocalStack) -> None:
    stack.start_redis()
    stack.start_worker(WORKER_METRICS_PORT="0")
    assert not stack.worker_targets_dir.exists() or list(stack.worker_targets_dir.iterdir()) == []
