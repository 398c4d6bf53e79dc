"""The worker as a real process: it refuses a bad model at start-up."""

from __future__ import annotations

import shutil
from pathlib import Path

from scripts.stack import LocalStack
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
