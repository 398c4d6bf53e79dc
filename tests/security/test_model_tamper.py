"""The model file is checked against its sha256 before it is unpickled: a swap is refused."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from scripts.stack import LocalStack
from tests.support.model_dirs import swapped_for_a_hostile_pickle
from tests.support.workers import refusal_line
from worker.model import ModelIntegrityError, load_model


@pytest.mark.slow
def test_a_swapped_model_file_is_refused_before_it_is_unpickled(
    stack: LocalStack, model_dir: Path
) -> None:
    marker = stack.workdir / "unpickled"
    swapped = swapped_for_a_hostile_pickle(model_dir, stack.workdir / "swapped", marker)
    stack.start_redis()
    assert "checksum mismatch" in refusal_line(stack, swapped)
    # Had the file been unpickled anywhere (main process or a pool child), this would exist.
    assert not marker.exists()

    # The gateway sees no worker and no model: it says so instead of serving anything.
    stack.start_gateway()
    with httpx.Client(base_url=stack.base_url, timeout=10) as http:
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["model"].startswith("unknown")
        assert http.get("/model").status_code == 503


def test_load_model_refuses_the_swap_in_process_too(stack: LocalStack, model_dir: Path) -> None:
    # The same check guards every load, not only the worker's start-up.
    marker = stack.workdir / "unpickled"
    swapped = swapped_for_a_hostile_pickle(model_dir, stack.workdir / "swapped", marker)
    started = time.monotonic()
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        load_model(swapped)
    assert time.monotonic() - started < 5
    assert not marker.exists()
