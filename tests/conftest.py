"""Fixtures: real redis-server, real Celery workers and a real gateway, each a process; and
the markers of the slow suites, set by folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.stack import LocalStack
from tests.support.processes import discard_stack, new_stack, started_stack
from worker.train import train

TESTS = Path(__file__).parent
# The suites that are slow as a whole, by folder (the markers are registered in pyproject).
FOLDER_MARKERS = {
    "e2e": pytest.mark.e2e,
    "faults": pytest.mark.faults,
    "deploy": pytest.mark.deploy,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(TESTS):
            marker = FOLDER_MARKERS.get(item.path.relative_to(TESTS).parts[0])
            if marker is not None:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained once per test session (deterministic: same file, same version)."""
    directory = tmp_path_factory.mktemp("model")
    train(directory)
    return directory


@pytest.fixture
def stack(tmp_path: Path, model_dir: Path) -> Iterator[LocalStack]:
    """A private stack for one test, which may stop, restart or break any part of it.

    Nothing is started: the test starts what it needs (start_redis, start_worker, ...).
    """
    local = new_stack(tmp_path / "stack", model_dir)
    try:
        yield local
    finally:
        discard_stack(local)


@pytest.fixture(scope="module")
def running_stack(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[LocalStack]:
    """Redis, one worker and the gateway, shared by the tests of a module that only read."""
    with started_stack(tmp_path_factory.mktemp("stack"), model_dir) as local:
        yield local


@pytest.fixture
def client(running_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_stack.base_url, timeout=30) as http:
        yield http
