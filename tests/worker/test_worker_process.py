"""The worker as a real process: it refuses a bad model at start-up; what it logs per task."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest

from scripts.stack import LocalStack, wait_until
from tests.integration.helpers import fresh_item
from worker.train import MODEL_FILE


def test_worker_refuses_to_start_on_checksum_mismatch(stack: LocalStack, model_dir: Path) -> None:
    bad = stack.workdir / "bad-model"
    shutil.copytree(model_dir, bad)
    with (bad / MODEL_FILE).open("ab") as f:
        f.write(b"tampered")
    stack.start_redis()
    worker = stack.start_worker(wait_ready=False, MODEL_DIR=str(bad))
    assert worker.popen is not None
    code = worker.popen.wait(timeout=30)
    assert code != 0
    log = worker.log()
    assert "refusing to start" in log
    assert "checksum mismatch" in log
    assert "ready." not in log


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_celery_logs_its_per_task_lines_only_at_debug(stack: LocalStack, level: str) -> None:
    stack.start_redis()
    worker = stack.start_worker(LOG_LEVEL=level)
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        for _ in range(2):
            response = http.post("/predict", json={"items": [fresh_item()]})
            assert response.status_code == 200, response.text
    # The task's own line at INFO and above. Celery logs "succeeded" after the task returns,
    # after its outcome reached the gateway; the pool process runs one task at a time, so
    # once the second task's own line is written the first task's Celery lines are too.
    own_line = re.compile(r"irisq\.task task=[0-9a-f]+ jobs=1 items=1 ")
    wait_until(lambda: len(own_line.findall(worker.log())) == 2, 10, "both tasks' own lines")
    log = worker.log()
    received = re.search(r"Task irisq\.predict\[[0-9a-f]+\] received", log)
    succeeded = re.search(r"Task irisq\.predict\[[0-9a-f]+\] succeeded in", log)
    assert bool(received) == bool(succeeded) == (level == "DEBUG"), log[-2000:]
