"""Estimators other than the random forest: trained into the registry, loaded, served; and the
training deciles every version's metadata carries."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import RidgeClassifier
from sklearn.model_selection import train_test_split

from contract.http import FEATURES
from contract.model import ModelMetadata
from scripts.stack import ROOT
from worker.model import METADATA_FILE, MODEL_FILE, ModelIntegrityError, load_model
from worker.models import main as models_main
from worker.models import parse_param
from worker.registry import VERSIONS_DIR, promote, served_dir
from worker.train import (
    HOLDOUT_FRACTION,
    SPLIT_RANDOM_STATE,
    ParameterError,
    sha256_of,
    train,
    train_version,
)

# Each test trains models or starts the CLI as a process (which imports scikit-learn).
pytestmark = pytest.mark.slow

# Small ensembles: what is tested does not depend on their size.
STAGES = 20
SEED = 3
# The estimators other than the forest, with the parameters each is trained with here.
OTHERS = {"gbt": {"n_estimators": STAGES, "max_depth": 2}, "logreg": {"C": 10.0}}
PREFIXES = {"gbt": "gbt", "logreg": "lr"}
KINDS = {"gbt": "gradient_boosting", "logreg": "logistic_regression"}


@pytest.fixture(scope="module")
def trained_registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A registry holding one version of each estimator in OTHERS, nothing served."""
    root = tmp_path_factory.mktemp("registry")
    versions = {
        estimator: train_version(root, estimator=estimator, params=params, seed=SEED)[0].version
        for estimator, params in OTHERS.items()
    }
    return root, versions


@pytest.fixture
def registry(
    trained_registry: tuple[Path, dict[str, str]], tmp_path: Path
) -> tuple[Path, dict[str, str]]:
    """A copy of the registry for one test to change."""
    root, versions = trained_registry
    copy = tmp_path / "registry"
    shutil.copytree(root, copy)
    return copy, versions


def iris_rows() -> tuple[np.ndarray, np.ndarray]:
    """The training rows and the hold-out rows, split as training splits them."""
    iris = load_iris()
    x_train, x_test, _, _ = train_test_split(
        iris.data,
        iris.target,
        test_size=HOLDOUT_FRACTION,
        stratify=iris.target,
        random_state=SPLIT_RANDOM_STATE,
    )
    return x_train, x_test


@pytest.mark.parametrize("estimator", OTHERS)
def test_each_estimator_trains_a_version_named_for_it(
    trained_registry: tuple[Path, dict[str, str]], estimator: str
) -> None:
    root, versions = trained_registry
    directory = root / VERSIONS_DIR / versions[estimator]
    metadata = ModelMetadata.model_validate_json((directory / METADATA_FILE).read_text())
    assert metadata.version == f"{PREFIXES[estimator]}-{metadata.sha256[:12]}"
    assert metadata.sha256 == sha256_of(directory / MODEL_FILE)
    assert metadata.estimator == KINDS[estimator]
    assert metadata.name == f"iris-{KINDS[estimator].replace('_', '-')}"
    assert metadata.params == OTHERS[estimator]
    assert metadata.random_state == SEED
    assert metadata.n_estimators == (STAGES if estimator == "gbt" else 0)
    assert metadata.holdout_accuracy >= 0.85


@pytest.mark.parametrize("estimator", OTHERS)
def test_the_same_estimator_parameters_and_seed_give_the_same_file(
    trained_registry: tuple[Path, dict[str, str]], tmp_path: Path, estimator: str
) -> None:
    root, versions = trained_registry
    again = train(tmp_path / "again", estimator=estimator, params=OTHERS[estimator], seed=SEED)
    other = train(tmp_path / "other", estimator=estimator, params=OTHERS[estimator], seed=SEED + 1)
    assert again.version == versions[estimator]
    assert other.version != versions[estimator]
    metadata, added = train_version(root, estimator=estimator, params=OTHERS[estimator], seed=SEED)
    assert (metadata.version, added) == (versions[estimator], False)


@pytest.mark.parametrize("estimator", OTHERS)
def test_a_loaded_estimator_answers_with_its_own_probabilities(
    trained_registry: tuple[Path, dict[str, str]], estimator: str
) -> None:
    root, versions = trained_registry
    directory = root / VERSIONS_DIR / versions[estimator]
    model = load_model(directory)
    assert (model.table, model.flat) == (None, None)
    own = joblib.load(directory / MODEL_FILE)
    _, rows = iris_rows()
    np.testing.assert_array_equal(model.predict_proba(rows), own.predict_proba(rows))


def test_estimators_are_promoted_like_forests(registry: tuple[Path, dict[str, str]]) -> None:
    root, versions = registry
    for version in versions.values():
        record, _ = promote(root, version)
        assert record.served == version
        assert served_dir(root) == root / VERSIONS_DIR / version
        assert load_model(served_dir(root)).metadata.version == version


def test_list_shows_each_versions_estimator(
    registry: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, versions = registry
    assert models_main(["--model-dir", str(root), "list", "--json"]) == 0
    listed = {v["version"]: v for v in json.loads(capsys.readouterr().out)["versions"]}
    for estimator, version in versions.items():
        assert listed[version]["estimator"] == KINDS[estimator]
        assert listed[version]["params"] == OTHERS[estimator]
    assert models_main(["--model-dir", str(root), "list"]) == 0
    table = capsys.readouterr().out
    assert "gradient_boosting" in table
    assert "logistic_regression" in table


def test_the_cli_trains_an_estimator_with_its_params(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--model-dir", str(tmp_path), "train", "--estimator", "gbt", "--seed", "5"]
    args += ["--param", "max_depth=2", "--param", "learning_rate=0.2", "--n-estimators", "5"]
    assert models_main(args) == 0
    (directory,) = (tmp_path / VERSIONS_DIR).iterdir()
    metadata = ModelMetadata.model_validate_json((directory / METADATA_FILE).read_text())
    assert directory.name.startswith("gbt-")
    assert metadata.params == {"max_depth": 2, "learning_rate": 0.2, "n_estimators": 5}
    assert (metadata.n_estimators, metadata.random_state) == (5, 5)


def test_an_unknown_param_is_refused_by_the_cli_before_training(tmp_path: Path) -> None:
    command = ["--model-dir", str(tmp_path), "train", "--estimator", "gbt", "--param", "bogus=1"]
    done = subprocess.run(
        [sys.executable, "-m", "worker.models", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "gbt has no parameter 'bogus'" in done.stderr
    assert list((tmp_path / VERSIONS_DIR).iterdir()) == []


@pytest.mark.parametrize(
    ("estimator", "params", "n_estimators", "refusal"),
    [
        ("logreg", {}, 10, "logreg has no n_estimators"),
        ("rf", {"n_estimators": 10}, 10, "n_estimators given twice"),
        ("rf", {"random_state": 1}, None, "from the seed"),
        ("gbt", {"n_estimators": 0}, None, "gbt refuses its parameters"),
    ],
)
def test_parameters_an_estimator_cannot_take_are_refused(
    tmp_path: Path,
    estimator: str,
    params: dict[str, int],
    n_estimators: int | None,
    refusal: str,
) -> None:
    with pytest.raises(ParameterError, match=refusal):
        train_version(tmp_path, estimator=estimator, params=params, n_estimators=n_estimators)
    assert list((tmp_path / VERSIONS_DIR).iterdir()) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_depth=3", ("max_depth", 3)),
        ("C=0.5", ("C", 0.5)),
        ("tol=1e-3", ("tol", 0.001)),
        ("warm_start=true", ("warm_start", True)),
        ("bootstrap=False", ("bootstrap", False)),
        ("max_depth=none", ("max_depth", None)),
        ("criterion=entropy", ("criterion", "entropy")),
        ("class_weight=", ("class_weight", "")),
    ],
)
def test_a_param_value_is_an_int_a_float_a_word_or_text(
    text: str, expected: tuple[str, object]
) -> None:
    parsed = parse_param(text)
    assert parsed == expected
    assert type(parsed[1]) is type(expected[1])


@pytest.mark.parametrize("text", ["max_depth", "=3"])
def test_a_param_without_a_name_and_value_is_a_usage_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="is not NAME=VALUE"):
        parse_param(text)


def test_metadata_holds_the_training_rows_deciles(
    trained_registry: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, versions = trained_registry
    first = train(tmp_path / "first", n_estimators=5, seed=SEED)
    again = train(tmp_path / "again", n_estimators=5, seed=SEED)
    deciles = first.feature_deciles
    assert deciles is not None
    assert list(deciles) == list(FEATURES)
    x_train, _ = iris_rows()
    for i, name in enumerate(FEATURES):
        values = deciles[name]
        assert len(values) == 9
        assert all(type(v) is float for v in values)
        # Non-decreasing: a value shared by many rows (petal_width 0.2) is several deciles.
        assert values == sorted(values)
        assert values[0] < values[-1]
        assert values == pytest.approx(np.quantile(x_train[:, i], np.arange(1, 10) / 10))
    assert again.feature_deciles == deciles
    # The deciles are the data's, whatever the estimator.
    for version in versions.values():
        assert read_deciles(root / VERSIONS_DIR / version) == deciles


def read_deciles(directory: Path) -> dict[str, list[float]] | None:
    text = (directory / METADATA_FILE).read_text()
    return ModelMetadata.model_validate_json(text).feature_deciles


def test_metadata_without_the_new_fields_still_validates_and_loads(
    model_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    fields = json.loads((copy / METADATA_FILE).read_text())
    for name in ("estimator", "params", "feature_deciles"):
        del fields[name]
    (copy / METADATA_FILE).write_text(json.dumps(fields))
    metadata = load_model(copy).metadata
    assert (metadata.estimator, metadata.params, metadata.feature_deciles) == (
        "random_forest",
        {},
        None,
    )


def model_holding(model: object, model_dir: Path, tmp_path: Path) -> Path:
    """A copy of `model_dir` holding `model`, its checksum matching."""
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    joblib.dump(model, copy / MODEL_FILE)
    fields = json.loads((copy / METADATA_FILE).read_text())
    fields["sha256"] = sha256_of(copy / MODEL_FILE)
    (copy / METADATA_FILE).write_text(json.dumps(fields))
    return copy


def test_a_classifier_without_predict_proba_is_refused_by_its_type(
    model_dir: Path, tmp_path: Path
) -> None:
    iris = load_iris()
    ridge = RidgeClassifier().fit(iris.data, iris.target)
    with pytest.raises(
        ModelIntegrityError, match="holds a RidgeClassifier, not a classifier with predict_proba"
    ):
        load_model(model_holding(ridge, model_dir, tmp_path))


def test_a_classifier_never_fitted_is_refused(model_dir: Path, tmp_path: Path) -> None:
    unfitted = GradientBoostingClassifier()
    with pytest.raises(
        ModelIntegrityError, match="holds a GradientBoostingClassifier that was never fitted"
    ):
        load_model(model_holding(unfitted, model_dir, tmp_path))


def test_an_estimator_is_checked_against_its_metadata(
    trained_registry: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, versions = trained_registry
    copy = tmp_path / "model"
    shutil.copytree(root / VERSIONS_DIR / versions["logreg"], copy)
    fields = json.loads((copy / METADATA_FILE).read_text())
    fields["classes"] = ["setosa", "virginica"]
    (copy / METADATA_FILE).write_text(json.dumps(fields))
    with pytest.raises(
        ModelIntegrityError,
        match=r"classes: the metadata names 2 \(setosa, virginica\), the model has 3",
    ):
        load_model(copy)
