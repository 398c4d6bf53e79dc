"""The worker's served metrics forget a pool process killed outright, but keep its counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from scripts.stack import ROOT, wait_until
from tests.support.metrics import Samples, parse, value
from tests.support.model_metadata import model_metadata
from worker import metrics
from worker.metrics_dir import ENV_VAR

# A pool process as far as metrics go: it loads a model, finishes a task, and waits.
POOL_PROCESS = """
import sys, time
from contract.model import ModelMetadata
from worker import metrics
metrics.record_model(ModelMetadata.model_validate_json(sys.argv[1]))
metrics.TASKS.labels("success").inc()
time.sleep(60)
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "metric-files"
    directory.mkdir()
    monkeypatch.setenv(ENV_VAR, str(directory))
    return directory


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(10)


def _start(files: Path, version: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            POOL_PROCESS,
            model_metadata(version, classes=["setosa"], features=()).model_dump_json(),
        ],
        cwd=ROOT,
        env={**os.environ, ENV_VAR: str(files)},
        stdout=subprocess.DEVNULL,
    )


def _served() -> Samples:
    return parse(generate_latest(metrics.served_registry()).decode())


def _model_info() -> dict[str, float]:
    return {
        dict(labels)["version"]: v
        for (name, labels), v in _served().items()
        if name == "irisq_worker_model_info"
    }


def test_a_killed_pool_process_loses_its_model_info_and_keeps_its_counts(
    files: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    killed = _start(files, "old")
    processes.append(killed)
    processes.append(_start(files, "new"))
    wait_until(lambda: _model_info() == {"old": 1.0, "new": 1.0}, 20, "both model versions")

    killed.send_signal(signal.SIGKILL)  # no shutdown hook runs
    killed.wait(10)
    assert _model_info() == {"new": 1.0}
    assert value(_served(), "irisq_worker_tasks_total", outcome="success") == 2
