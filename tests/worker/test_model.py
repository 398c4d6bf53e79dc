from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

import worker.model
from worker.forest_table import forest_table
from worker.model import (
    FLAT_FOREST_MAX_ROWS,
    METADATA_FILE,
    MODEL_FILE,
    FlatForest,
    ModelIntegrityError,
    load_model,
    verify_checksum,
)
from worker.train import sha256_of


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


def test_the_flat_walk_gives_scikit_learns_very_probabilities(model_dir: Path) -> None:
    forest = joblib.load(model_dir / MODEL_FILE)
    flat = FlatForest(forest)
    iris = load_iris().data
    random_rows = np.random.default_rng(7).uniform(0.0001, 100, size=(10_000, 4))
    near_iris = np.random.default_rng(8).uniform(0.1, 8, size=(10_000, 4))
    for rows in (iris, random_rows, near_iris):
        np.testing.assert_array_equal(flat.predict_proba(rows), forest.predict_proba(rows))


def test_the_model_answers_from_its_table(model_dir: Path) -> None:
    model = load_model(model_dir)
    assert model.table is not None
    assert model.flat is None  # the flat walk is built only for a forest without a table
    rows = np.random.default_rng(9).uniform(0.1, 8, size=(100, 4))
    np.testing.assert_array_equal(model.predict_proba(rows), model.forest.predict_proba(rows))


def test_a_forest_too_large_for_its_table_answers_like_scikit_learn(
    model_dir: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    forest = joblib.load(model_dir / MODEL_FILE)
    assert forest_table(forest, max_entries=1_000) is None
    monkeypatch.setattr(worker.model, "MAX_TABLE_ENTRIES", 1_000)
    with caplog.at_level(logging.WARNING, logger="irisq.model"):
        model = load_model(model_dir)
    assert model.table is None
    assert model.flat is not None
    assert "evaluated tree by tree" in caplog.text
    rows = np.random.default_rng(9).uniform(0.1, 8, size=(FLAT_FOREST_MAX_ROWS, 4))
    for n in (1, FLAT_FOREST_MAX_ROWS - 1, FLAT_FOREST_MAX_ROWS):
        np.testing.assert_array_equal(
            model.predict_proba(rows[:n]), model.forest.predict_proba(rows[:n])
        )


def _rewrite(model_dir: Path, forest: object = None, **metadata: object) -> None:
    """Put `forest` (when given) and changed metadata in the directory, checksum matching."""
    if forest is not None:
        joblib.dump(forest, model_dir / MODEL_FILE)
    fields = json.loads((model_dir / METADATA_FILE).read_text())
    fields |= {"sha256": sha256_of(model_dir / MODEL_FILE), **metadata}
    (model_dir / METADATA_FILE).write_text(json.dumps(fields))


def test_a_model_of_another_scikit_learn_loads_with_a_warning(
    model_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _rewrite(model_copy, sklearn_version="1.0.2")
    with caplog.at_level(logging.WARNING, logger="irisq.model"):
        model = load_model(model_copy)
    assert model.table is not None
    assert f"trained with scikit-learn 1.0.2 and this worker runs {sklearn.__version__}" in (
        caplog.text
    )


def test_a_model_of_this_scikit_learn_loads_without_a_warning(
    model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="irisq.model"):
        load_model(model_dir)
    assert caplog.text == ""


def test_metadata_naming_other_classes_is_refused(model_copy: Path) -> None:
    _rewrite(model_copy, classes=["setosa", "virginica"])
    with pytest.raises(
        ModelIntegrityError,
        match=r"classes: the metadata names 2 \(setosa, virginica\), the forest has 3 \(0, 1, 2\)",
    ):
        load_model(model_copy)


def test_class_labels_in_another_order_are_refused(model_copy: Path) -> None:
    iris = load_iris()
    forest = RandomForestClassifier(n_estimators=3, random_state=0)
    forest.fit(iris.data, iris.target_names[iris.target])
    _rewrite(model_copy, forest, classes=["virginica", "setosa", "versicolor"])
    with pytest.raises(
        ModelIntegrityError,
        match="the metadata names virginica, setosa, versicolor, "
        "the forest has setosa, versicolor, virginica",
    ):
        load_model(model_copy)


def test_numeric_labels_named_in_another_order_are_refused(model_copy: Path) -> None:
    # The iris forest's labels are the codes 0, 1, 2; names that are those labels must keep
    # their order, as the probability columns do.
    _rewrite(model_copy, classes=["2", "1", "0"])
    with pytest.raises(
        ModelIntegrityError, match="the metadata names 2, 1, 0, the forest has 0, 1, 2"
    ):
        load_model(model_copy)


def test_class_labels_that_are_the_names_load(model_copy: Path) -> None:
    iris = load_iris()
    forest = RandomForestClassifier(n_estimators=3, random_state=0)
    forest.fit(iris.data, iris.target_names[iris.target])
    _rewrite(model_copy, forest)
    assert list(load_model(model_copy).forest.classes_) == ["setosa", "versicolor", "virginica"]


def test_metadata_listing_other_features_is_refused(model_copy: Path) -> None:
    iris = load_iris()
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(
        iris.data[:, :3], iris.target
    )
    _rewrite(model_copy, forest)
    with pytest.raises(
        ModelIntegrityError, match=r"features: the metadata lists 4 \(.*\), the forest takes 3"
    ):
        load_model(model_copy)


def test_feature_names_that_differ_are_refused(model_copy: Path) -> None:
    forest = joblib.load(model_copy / MODEL_FILE)
    # As fitting on a DataFrame sets it.
    forest.feature_names_in_ = np.array(
        ["sepal_length", "sepal_width", "petal_width", "petal_length"], dtype=object
    )
    _rewrite(model_copy, forest)
    with pytest.raises(ModelIntegrityError) as refused:
        load_model(model_copy)
    assert str(refused.value).endswith(
        "feature names: 3 is 'petal_length' in the metadata, 'petal_width' in the forest; "
        "4 is 'petal_width' in the metadata, 'petal_length' in the forest"
    )


def test_a_file_that_is_no_forest_is_refused(model_copy: Path) -> None:
    _rewrite(model_copy, {"not": "the model"})
    with pytest.raises(
        ModelIntegrityError, match="holds a dict, not a classifier with predict_proba"
    ):
        load_model(model_copy)


def test_a_forest_of_several_outputs_is_refused(model_copy: Path) -> None:
    iris = load_iris()
    targets = np.column_stack([iris.target, iris.target == 0])
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(iris.data, targets)
    _rewrite(model_copy, forest)
    with pytest.raises(ModelIntegrityError, match="a forest of 2 outputs"):
        load_model(model_copy)


def test_a_forest_saved_with_many_jobs_adds_its_trees_in_order(model_copy: Path) -> None:
    forest = joblib.load(model_copy / MODEL_FILE)
    forest.set_params(n_jobs=-1)
    _rewrite(model_copy, forest)
    assert load_model(model_copy).forest.n_jobs == 1


def test_rows_of_another_width_are_refused_not_cut(model_dir: Path) -> None:
    forest = joblib.load(model_dir / MODEL_FILE)
    table = forest_table(forest)
    assert table is not None
    rows = np.ones((2, 5))
    for evaluate in (table.predict_proba, FlatForest(forest).predict_proba):
        with pytest.raises(ValueError, match="rows of 5 features given, the forest takes 4"):
            evaluate(rows)
