from __future__ import annotations

import logging
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

import worker.model
from worker.forest_table import forest_table
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


def _edge_rows(cuts: list[np.ndarray], base: np.ndarray) -> np.ndarray:
    """Rows whose one feature sits on a threshold or one step either side of it, in float64
    and in float32 (the trees compare float32 features)."""
    rows = []
    for feature, thresholds in enumerate(cuts):
        for t in thresholds:
            t32 = np.float32(t)
            for value in (
                t,
                np.nextafter(t, -np.inf),
                np.nextafter(t, np.inf),
                t32,
                np.nextafter(t32, np.float32(-np.inf)),
                np.nextafter(t32, np.float32(np.inf)),
            ):
                row = base[len(rows) % len(base)].copy()
                row[feature] = float(value)
                rows.append(row)
    return np.array(rows)


def test_the_table_gives_scikit_learns_very_probabilities(model_dir: Path) -> None:
    forest = joblib.load(model_dir / MODEL_FILE)
    table = forest_table(forest)
    assert table is not None
    iris = load_iris().data
    rng = np.random.default_rng(7)
    for rows in (
        iris,
        rng.uniform(0.0001, 100, size=(10_000, 4)),
        rng.uniform(0.1, 8, size=(10_000, 4)),
        np.round(rng.uniform(0.1, 8, size=(10_000, 4)), 1),
        _edge_rows(table.thresholds, iris),
    ):
        np.testing.assert_array_equal(table.predict_proba(rows), forest.predict_proba(rows))


def test_the_table_holds_for_any_forest_of_numeric_features() -> None:
    rng = np.random.default_rng(11)
    x = np.round(rng.normal(size=(300, 3)), 1)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=25, max_depth=5, random_state=0).fit(x, y)
    table = forest_table(forest)
    assert table is not None
    rows = np.vstack([rng.normal(scale=2, size=(5_000, 3)), _edge_rows(table.thresholds, x)])
    np.testing.assert_array_equal(table.predict_proba(rows), forest.predict_proba(rows))


def test_the_flat_walk_matches_scikit_learn(model_dir: Path) -> None:
    forest = joblib.load(model_dir / MODEL_FILE)
    flat = FlatForest(forest)
    iris = load_iris().data
    random_rows = np.random.default_rng(7).uniform(0.0001, 100, size=(10_000, 4))
    near_iris = np.random.default_rng(8).uniform(0.1, 8, size=(10_000, 4))
    for rows in (iris, random_rows, near_iris):
        np.testing.assert_allclose(
            flat.predict_proba(rows), forest.predict_proba(rows), atol=1e-9, rtol=0
        )


def test_the_model_answers_from_its_table(model_dir: Path) -> None:
    model = load_model(model_dir)
    assert model.table is not None
    assert model.flat is None  # the flat walk is built only for a forest without a table
    rows = np.random.default_rng(9).uniform(0.1, 8, size=(100, 4))
    np.testing.assert_array_equal(model.predict_proba(rows), model.forest.predict_proba(rows))


def test_a_forest_too_large_for_its_table_answers_like_scikit_learn(
    model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    forest = joblib.load(model_dir / MODEL_FILE)
    assert forest_table(forest, max_cells=1_000) is None
    with (
        caplog.at_level(logging.WARNING, logger="irisq.model"),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(worker.model, "MAX_CELLS", 1_000)
        patch.setattr(worker.model, "forest_table", lambda f: forest_table(f, 1_000))
        model = load_model(model_dir)
    assert model.table is None
    assert model.flat is not None
    assert "evaluated tree by tree" in caplog.text
    rows = np.random.default_rng(9).uniform(0.1, 8, size=(FLAT_FOREST_MAX_ROWS, 4))
    for n in (1, FLAT_FOREST_MAX_ROWS - 1, FLAT_FOREST_MAX_ROWS):
        np.testing.assert_allclose(
            model.predict_proba(rows[:n]), model.forest.predict_proba(rows[:n]), atol=1e-9, rtol=0
        )
