"""The worker as a real process: it refuses a bad model at start-up; what it logs per task."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from scripts.stack import LocalStack, wait_until
from tests.support.items import fresh_item
from tests.support.model_dirs import (
    TUTORIAL_METADATA,
    corrupt_but_consistent_model,
    tampered_model,
    truncated_but_consistent_model,
    with_directory_for,
    with_metadata,
)
from tests.support.workers import refusal_line
from worker.model import METADATA_FILE, MODEL_FILE

BadModel = Callable[[Path, Path], Path]
BAD_MODELS: dict[str, tuple[BadModel, str]] = {
    # case: (how the model dir is spoiled, what the one log line says)
    "tutorial metadata": (
        lambda src, into: with_metadata(src, into, json.dumps(TUTORIAL_METADATA)),
        "is not an irisq model's metadata (10 problems: name: Field required;",
    ),
    "malformed metadata": (
        lambda src, into: with_metadata(src, into, '{"name": "iris-rf", '),
        "is not valid JSON",
    ),
    "unreadable metadata": (
        lambda src, into: with_directory_for(src, into, METADATA_FILE),
        "could not be read: Is a directory",
    ),
    "unreadable model file": (
        lambda src, into: with_directory_for(src, into, MODEL_FILE),
        "could not be read: Is a directory",
    ),
    "truncated model": (truncated_but_consistent_model, "could not be loaded"),
    "corrupt model": (corrupt_but_consistent_model, "could not be loaded"),
    "tampered model": (tampered_model, "checksum mismatch"),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_worker_refuses_to_start_on_a_model_it_cannot_load(
    stack: LocalStack, model_dir: Path, case: str
) -> None:
    spoil, reason = BAD_MODELS[case]
    bad = spoil(model_dir, stack.workdir / "bad-model")
    stack.start_redis()
    assert reason in refusal_line(stack, bad)


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
