from __future__ import annotations

import json
from pathlib import Path

from contract.http import FEATURES
from contract.model import ModelMetadata
from worker.model import METADATA_FILE, MODEL_FILE
from worker.train import N_ESTIMATORS, sha256_of


def test_training_writes_model_and_complete_metadata(model_dir: Path) -> None:
    metadata = ModelMetadata.model_validate(json.loads((model_dir / METADATA_FILE).read_text()))
    assert (model_dir / MODEL_FILE).is_file()
    assert metadata.sha256 == sha256_of(model_dir / MODEL_FILE)
    assert metadata.version == f"rf-{metadata.sha256[:12]}"
    assert metadata.classes == ["setosa", "versicolor", "virginica"]
    assert [f["name"] for f in metadata.features] == list(FEATURES)
    assert {f["unit"] for f in metadata.features} == {"cm"}
    assert metadata.n_estimators == N_ESTIMATORS == 100
    assert metadata.holdout_accuracy >= 0.85
    assert metadata.sklearn_version
    assert metadata.trained_at


def test_training_is_reproducible(model_dir: Path, tmp_path: Path) -> None:
    from worker.train import train

    again = train(tmp_path)
    assert again.sha256 == json.loads((model_dir / METADATA_FILE).read_text())["sha256"]


def test_the_same_seed_gives_the_same_file_and_another_seed_another(tmp_path: Path) -> None:
    from worker.train import train

    first = train(tmp_path / "first", n_estimators=10, seed=7)
    again = train(tmp_path / "again", n_estimators=10, seed=7)
    other = train(tmp_path / "other", n_estimators=10, seed=8)
    assert again.sha256 == first.sha256 == sha256_of(tmp_path / "again" / MODEL_FILE)
    assert other.sha256 != first.sha256
    assert (first.n_estimators, first.random_state) == (10, 7)
