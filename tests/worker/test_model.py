from __future__ import annotations

import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris

from worker.library_internals import TreeSum
from worker.model import (
    FLAT_FOREST_MAX_ROWS,
    MODEL_FILE,
    FlatForest,
    ModelIntegrityError,
    load_model,
    verify_checksum,
)


@pytest.fixture
def model_copy(model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    return copy


def test_verified_model_loads(model_dir: Path) -> None:
    model = load_model(model_dir)
    assert model.metadata.classes == ["setosa", "versicolor", "virginica"]


def test_a_tampered_file_is_refused_before_unpickling(model_copy: Path) -> None:
    path = model_copy / MODEL_FILE
    # A different but valid pickle: unpickling it would "work", so only the checksum stops it.
    joblib.dump({"not": "the model"}, path)
    with pytest.raises(ModelIntegrityError, match="checksum mismatch"):
        verify_checksum(model_copy)
    with pytest.raises(ModelIntegrityError):
        load_model(model_copy)


def test_a_missing_file_is_refused(model_copy: Path) -> None:
    (model_copy / MODEL_FILE).unlink()
    with pytest.raises(ModelIntegrityError, match="not found"):
        verify_checksum(model_copy)


@pytest.mark.parametrize("evaluation", [FlatForest, TreeSum])
def test_fast_evaluations_match_scikit_learn(model_dir: Path, evaluation: type) -> None:
    forest = joblib.load(model_dir / MODEL_FILE)
    fast = evaluation(forest)
    iris = load_iris().data
    random_rows = np.random.default_rng(7).uniform(0.0001, 100, size=(10_000, 4))
    near_iris = np.random.default_rng(8).uniform(0.1, 8, size=(10_000, 4))
    for rows in (iris, random_rows, near_iris):
        np.testing.assert_allclose(
            fast.predict_proba(rows), forest.predict_proba(rows), atol=1e-9, rtol=0
        )


def test_the_model_answers_like_scikit_learn_either_side_of_the_switch(model_dir: Path) -> None:
    model = load_model(model_dir)
    rows = np.random.default_rng(9).uniform(0.1, 8, size=(FLAT_FOREST_MAX_ROWS, 4))
    for n in (1, FLAT_FOREST_MAX_ROWS - 1, FLAT_FOREST_MAX_ROWS):
        np.testing.assert_allclose(
            model.predict_proba(rows[:n]), model.forest.predict_proba(rows[:n]), atol=1e-9, rtol=0
        )
