"""The model registry as its users drive it: `python -m worker.models` as a real process, and
the worker serving what it promotes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from contract.model import MODEL_KEY
from contract.rollout import Rollout
from scripts.stack import ROOT, LocalStack, free_port, wait_until
from tests.support.processes import discard_stack, new_stack
from tests.support.workers import refusal_line
from worker import process_state
from worker.model import METADATA_FILE, MODEL_FILE, load_model, read_metadata
from worker.registry import (
    SERVED_FILE,
    VERSIONS_DIR,
    read_rollout,
    read_served,
    registry_view,
    served_dir,
    version_path,
)
from worker.settings import WorkerSettings
from worker.train import train_version

# The commands run as processes (each imports scikit-learn), and one test a real worker.
pytestmark = pytest.mark.slow

# Small forests: the registry does not care how many trees a version has.
TREES = 10
REFUSED = 1

NO_REDIS = f"redis://127.0.0.1:{free_port()}/0"


def models(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m worker.models ARGS` with MODEL_DIR=root, as a user runs it, with no
    Redis where REDIS_URL points (no worker runs)."""
    return subprocess.run(
        [sys.executable, "-m", "worker.models", *args],
        env={**os.environ, "MODEL_DIR": str(root), "REDIS_URL": NO_REDIS},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def succeeds(root: Path, *args: str) -> str:
    done = models(root, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refused(root: Path, *args: str) -> str:
    """The refusal's message, once the command exits with the refusal status."""
    done = models(root, *args)
    assert done.returncode == REFUSED, (done.stdout, done.stderr)
    return done.stderr


def train(root: Path, seed: int) -> str:
    out = succeeds(root, "train", "--n-estimators", str(TREES), "--seed", str(seed))
    match = re.search(r"\b(rf-[0-9a-f]{12})\b", out)
    assert match is not None, out
    return match.group(1)


def listing(root: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(succeeds(root, "list", "--json"))
    return document


def served_bytes(root: Path) -> bytes | None:
    path = root / SERVED_FILE
    return path.read_bytes() if path.exists() else None


@pytest.fixture(scope="module")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A registry of two versions (seeds 1 and 2), nothing served; trained once per module."""
    root = tmp_path_factory.mktemp("registry")
    first, _ = train_version(root, n_estimators=TREES, seed=1)
    second, _ = train_version(root, n_estimators=TREES, seed=2)
    return root, first.version, second.version


@pytest.fixture
def registry(trained_registry: tuple[Path, str, str], tmp_path: Path) -> tuple[Path, str, str]:
    """A copy of the two-version registry for one test to change."""
    root, first, second = trained_registry
    copy = tmp_path / "registry"
    shutil.copytree(root, copy)
    return copy, first, second


def test_a_version_is_served_once_promoted_and_rollback_serves_the_one_before(
    tmp_path: Path,
) -> None:
    root = tmp_path / "registry"
    first = train(root, seed=1)
    listed = listing(root)
    assert listed["served"] is None
    assert listed["served_dir"] == str(root)
    assert [(v["version"], v["served"], v["promoted_at"]) for v in listed["versions"]] == [
        (first, False, None)
    ]
    assert listed["versions"][0]["trained_at"]
    assert listed["versions"][0]["holdout_accuracy"] >= 0.85

    promoted = succeeds(root, "promote", first)
    assert f"{first} is served now" in promoted
    assert "Redis not reached" in promoted
    listed = listing(root)
    assert listed["served"] == first
    assert listed["versions"][0]["served"] is True
    assert listed["versions"][0]["promoted_at"]

    second = train(root, seed=2)
    assert second != first
    succeeds(root, "promote", second)
    assert listing(root)["served"] == second

    assert f"{first} is served now, rolled back from {second}" in succeeds(root, "rollback")
    listed = listing(root)
    assert listed["served"] == first
    assert listed["served_dir"] == str(root / VERSIONS_DIR / first)
    assert {v["version"]: v["served"] for v in listed["versions"]} == {
        first: True,
        second: False,
    }
    history = json.loads((root / SERVED_FILE).read_text())["history"]
    assert [(entry["version"], entry["via"]) for entry in history] == [
        (first, "promote"),
        (second, "promote"),
        (first, "rollback"),
    ]
    table = succeeds(root, "list")
    assert re.search(rf"^\*\s+{first}\s", table, re.MULTILINE), table
    assert re.search(rf"^\s+{second}\s", table, re.MULTILINE), table


def test_training_the_same_seed_again_adds_no_version(registry: tuple[Path, str, str]) -> None:
    root, first, _ = registry
    before = sorted(path.name for path in (root / VERSIONS_DIR).iterdir())
    assert train(root, seed=1) == first
    assert sorted(path.name for path in (root / VERSIONS_DIR).iterdir()) == before


def test_a_second_rollback_goes_back_no_further_than_the_first_promotion(
    registry: tuple[Path, str, str],
) -> None:
    root, first, second = registry
    succeeds(root, "promote", first)
    succeeds(root, "promote", second)
    succeeds(root, "rollback")
    before = served_bytes(root)
    assert f"no version was served before {first}" in refused(root, "rollback")
    assert served_bytes(root) == before


def test_rollback_refuses_when_nothing_was_promoted(registry: tuple[Path, str, str]) -> None:
    root, _, _ = registry
    assert "no version was ever promoted" in refused(root, "rollback")
    assert served_bytes(root) is None


def test_promoting_the_served_version_changes_nothing(registry: tuple[Path, str, str]) -> None:
    root, first, _ = registry
    succeeds(root, "promote", first)
    before = served_bytes(root)
    assert "nothing changed" in succeeds(root, "promote", first)
    assert served_bytes(root) == before


@pytest.mark.parametrize("version", ["rf-000000000000", "../versions", "rf-1"])
def test_promotion_refuses_a_version_not_in_the_registry(
    registry: tuple[Path, str, str], version: str
) -> None:
    root, _, _ = registry
    message = refused(root, "promote", version)
    assert "no such version" in message or "is not a version name" in message
    assert served_bytes(root) is None


def test_promotion_refuses_a_tampered_version_and_changes_nothing(
    registry: tuple[Path, str, str],
) -> None:
    root, first, second = registry
    succeeds(root, "promote", first)
    before = served_bytes(root)
    with (root / VERSIONS_DIR / second / MODEL_FILE).open("ab") as f:
        f.write(b"tampered")
    assert "checksum mismatch" in refused(root, "promote", second)
    assert served_bytes(root) == before
    assert listing(root)["served"] == first


def _edit_metadata(directory: Path, **fields: Any) -> None:
    path = directory / METADATA_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


REVERSED_FEATURES = [
    {"name": name, "unit": "cm"}
    for name in ("petal_width", "petal_length", "sepal_width", "sepal_length")
]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"classes": ["cat", "dog", "bird"]}, "the API answers with setosa, versicolor, virginica"),
        ({"features": REVERSED_FEATURES}, "the API takes sepal_length, sepal_width"),
    ],
    ids=["classes", "features"],
)
def test_promotion_refuses_a_version_unlike_the_api(
    registry: tuple[Path, str, str], fields: dict[str, Any], says: str
) -> None:
    root, _, second = registry
    # The checksum covers the model file only: the metadata passes it, the API check does not.
    _edit_metadata(root / VERSIONS_DIR / second, **fields)
    message = refused(root, "promote", second)
    assert f"refusing to promote {second}" in message
    assert says in message
    assert served_bytes(root) is None


def test_promotion_takes_the_served_models_classes_as_the_apis(
    registry: tuple[Path, str, str],
) -> None:
    root, first, _ = registry
    # A legacy model dir (no served record) whose metadata names the classes otherwise.
    for name in (MODEL_FILE, METADATA_FILE):
        shutil.copy(root / VERSIONS_DIR / first / name, root / name)
    _edit_metadata(root, classes=["small", "medium", "large"])
    message = refused(root, "promote", first)
    assert "the API answers with small, medium, large (the served model's)" in message
    assert served_bytes(root) is None


def test_list_shows_a_version_whose_metadata_is_unreadable(
    registry: tuple[Path, str, str],
) -> None:
    root, _, second = registry
    (root / VERSIONS_DIR / second / METADATA_FILE).write_text("{")
    broken = {v["version"]: v for v in listing(root)["versions"]}[second]
    assert broken["trained_at"] is None
    assert "not valid JSON" in broken["problem"]
    assert "not valid JSON" in succeeds(root, "list")


def test_without_a_served_record_the_model_dir_itself_is_served(model_dir: Path) -> None:
    assert served_dir(model_dir) == model_dir
    model = load_model(served_dir(model_dir))
    assert model.metadata.version == json.loads((model_dir / METADATA_FILE).read_text())["version"]


def test_the_promoted_version_is_the_one_a_worker_loads(
    registry: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, first, second = registry
    succeeds(root, "promote", second)
    assert load_model(served_dir(root)).metadata.version == second
    succeeds(root, "promote", first)
    # preload_model sets this process's model: the monkeypatch puts the old one back after.
    monkeypatch.setattr(process_state, "_model", None)
    loaded = process_state.preload_model(WorkerSettings(model_dir=root))
    assert loaded.metadata.version == first


@pytest.fixture
def registry_stack(registry: tuple[Path, str, str], tmp_path: Path) -> Iterator[LocalStack]:
    """A stack whose workers' MODEL_DIR is the registry; nothing started yet."""
    root, _, _ = registry
    local = new_stack(tmp_path / "stack", root)
    try:
        yield local
    finally:
        discard_stack(local)


def test_a_worker_serves_the_promoted_version_from_its_start(
    registry: tuple[Path, str, str], registry_stack: LocalStack
) -> None:
    root, _, second = registry
    succeeds(root, "promote", second)
    registry_stack.start_redis()
    registry_stack.start_worker()
    client = redis.Redis.from_url(str(registry_stack.redis_url))
    try:
        wait_until(lambda: client.exists(MODEL_KEY) == 1, 20, "the model announcement")
        announced = client.get(MODEL_KEY)
    finally:
        client.close()
    assert isinstance(announced, bytes)
    assert json.loads(announced)["version"] == second


def test_a_worker_refuses_to_start_on_a_served_record_it_cannot_read(
    registry: tuple[Path, str, str], stack: LocalStack
) -> None:
    root, _, _ = registry
    (root / SERVED_FILE).write_text('{"served": "../elsewhere", "history": []}')
    line = refusal_line(stack, root)
    assert f"served record at {root / SERVED_FILE} is not valid: served:" in line


def test_a_canary_is_finished_by_promoting_it_and_ended_by_rollback(
    registry: tuple[Path, str, str],
) -> None:
    root, first, second = registry
    succeeds(root, "promote", first)
    started = succeeds(root, "promote", second, "--canary", "10")
    assert f"{second} is the canary: it computes 10 % of the computed items" in started
    record = read_served(root)
    assert record is not None
    assert record.rollout() == Rollout(served=first, canary=second, canary_percent=10, generation=2)
    # The canary's end serves nothing new: the served version computes every item again.
    assert f"the canary {second} is ended" in succeeds(root, "rollback")
    assert read_rollout(root) == Rollout(served=first, generation=3)

    succeeds(root, "promote", second, "--canary", "25")
    succeeds(root, "promote", second)
    assert read_rollout(root) == Rollout(served=second, generation=5)
    # A rollback after a finished canary goes back to the version served before it.
    succeeds(root, "rollback")
    assert read_rollout(root) == Rollout(served=first, generation=6)


def test_a_canary_is_refused_without_a_served_version_or_for_the_served_one(
    registry: tuple[Path, str, str],
) -> None:
    root, first, _ = registry
    assert "promote one first" in refused(root, "promote", first, "--canary", "10")
    assert served_bytes(root) is None
    succeeds(root, "promote", first)
    before = served_bytes(root)
    assert "cannot be a canary" in refused(root, "promote", first, "--canary", "10")
    assert served_bytes(root) == before
    done = models(root, "promote", first, "--canary", "100")
    assert done.returncode == 2
    assert "not a share from 1 to 99" in done.stderr


def test_without_a_served_record_the_rollout_is_the_model_dir_at_generation_zero(
    model_dir: Path,
) -> None:
    version = read_metadata(model_dir).version
    assert read_rollout(model_dir) == Rollout(served=version, generation=0)
    assert version_path(model_dir, version) == model_dir
    view = registry_view(model_dir)
    assert view.served == version
    assert [(v.version, v.served) for v in view.versions] == [(version, True)]
