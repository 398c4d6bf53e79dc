"""A pool process's versions: loaded, swapped whole, drawn per task, kept when a load fails."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from contract.rollout import Rollout
from worker import metrics
from worker.model import load_model
from worker.registry import version_dir
from worker.serving import ServingSet
from worker.train import train_version

TREES = 5
MISSING = "rf-000000000000"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    root = tmp_path_factory.mktemp("registry")
    first, _ = train_version(root, n_estimators=TREES, seed=1)
    second, _ = train_version(root, n_estimators=TREES, seed=2)
    return root, first.version, second.version


def _serving(root: Path, version: str) -> ServingSet:
    return ServingSet.serving(root, load_model(version_dir(root, version)))


def _failures(version: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "irisq_worker_model_load_failures_total", {"version": version}
    )
    return value or 0.0


def test_a_promotion_is_loaded_then_swapped_in_whole(registry: tuple[Path, str, str]) -> None:
    root, a, b = registry
    serving = _serving(root, a)
    before = serving.answering
    assert serving.follow(Rollout(served=b, generation=2))
    assert serving.answering.versions() == [b]
    assert serving.answering.generation == 2
    # The set a task took before the swap is untouched: it runs wholly on its version.
    assert before.versions() == [a]
    assert before.choose().metadata.version == a
    # The same generation again changes nothing and loads nothing.
    assert not serving.follow(Rollout(served=b, generation=2))
    report = serving.report()
    assert (report.generation, report.answering, report.failed) == (2, [b], {})


def test_a_canary_computes_its_share_of_tasks(registry: tuple[Path, str, str]) -> None:
    root, a, b = registry
    serving = _serving(root, a)
    serving.follow(Rollout(served=a, canary=b, canary_percent=30, generation=3))
    assert serving.answering.versions() == [a, b]
    random.seed(7)
    drawn = Counter(serving.choose().metadata.version for _ in range(10_000))
    assert 2_800 < drawn[b] < 3_200, drawn
    # Ending the canary leaves the served version alone.
    serving.follow(Rollout(served=a, generation=4))
    assert serving.answering.versions() == [a]
    assert {serving.choose().metadata.version for _ in range(100)} == {a}


def test_a_version_that_will_not_load_leaves_the_one_it_had_answering_and_says_so(
    registry: tuple[Path, str, str],
) -> None:
    root, a, _ = registry
    serving = _serving(root, a)
    failures = _failures(MISSING)
    assert not serving.follow(Rollout(served=MISSING, generation=5))
    assert serving.answering.versions() == [a]
    report = serving.report()
    assert report.answering == [a]
    assert "not found" in report.failed[MISSING]
    # Not taken: the generation stays, so the process tries again (after LOAD_RETRY_SECONDS).
    assert report.generation == -1
    assert _failures(MISSING) == failures + 1
    assert not serving.follow(Rollout(served=MISSING, generation=5))
    assert _failures(MISSING) == failures + 1, "tried again before its retry time"


def test_no_published_rollout_keeps_what_answers(registry: tuple[Path, str, str]) -> None:
    root, a, _ = registry
    serving = _serving(root, a)
    assert not serving.follow(None)
    assert serving.answering.versions() == [a]


def test_a_failure_is_forgotten_once_the_rollout_no_longer_names_the_version(
    registry: tuple[Path, str, str],
) -> None:
    root, a, _ = registry
    serving = _serving(root, a)
    serving.follow(Rollout(served=MISSING, generation=6))
    assert MISSING in serving.report().failed
    assert serving.follow(Rollout(served=a, generation=7))
    assert serving.report().failed == {}
    assert serving.report().generation == 7
