"""Model loading (checksum, unpickling, the model against its metadata) and its evaluation."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import orjson
import sklearn
from pydantic import ValidationError
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from contract.model import ModelMetadata
from worker.forest_table import MAX_TABLE_ENTRIES, ForestTable, forest_table, table_entries

log = logging.getLogger("irisq.model")

FloatArray = npt.NDArray[np.float64]

# A model directory holds the joblib file and its metadata (contract.model.ModelMetadata).
MODEL_FILE = "model.joblib"
METADATA_FILE = "model_metadata.json"
# For a forest too large for its table: below this many rows the flat walk is faster than
# scikit-learn's predict_proba, from it scikit-learn's own call.
FLAT_FOREST_MAX_ROWS = 64


class ModelIntegrityError(RuntimeError):
    """The model file is missing, does not match its metadata's checksum, or won't load."""


def validation_problems(exc: ValidationError) -> str:
    """pydantic's errors in one log line: `name: Field required; ...`."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'file'}: {error['msg']}"
        for error in exc.errors(include_url=False)
    )


def _one_line(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        return f"not valid JSON ({errors[0]['ctx'].get('error', 'unreadable')})"
    return f"not an irisq model's metadata ({len(errors)} problems: {validation_problems(exc)})"


def read_file(path: Path, what: str) -> bytes:
    """The file's bytes; a missing or unreadable one is a ModelIntegrityError naming `what`."""
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelIntegrityError(f"{what} not found at {path}") from exc
    except OSError as exc:
        raise ModelIntegrityError(
            f"{what} at {path} could not be read: {exc.strerror or type(exc).__name__}"
        ) from exc


def read_metadata(model_dir: Path) -> ModelMetadata:
    path = model_dir / METADATA_FILE
    try:
        return ModelMetadata.model_validate_json(read_file(path, "model metadata"))
    except ValidationError as exc:
        raise ModelIntegrityError(f"model metadata at {path} is {_one_line(exc)}") from exc


def _verified_bytes(model_dir: Path) -> tuple[ModelMetadata, bytes]:
    """The model file's bytes, read once, and its metadata, once the bytes match its sha256.

    The caller unpickles these very bytes: nothing can change the file between the check
    and the load.
    """
    metadata = read_metadata(model_dir)
    path = model_dir / MODEL_FILE
    data = read_file(path, "model file")
    actual = hashlib.sha256(data).hexdigest()
    if actual != metadata.sha256:
        raise ModelIntegrityError(
            f"model checksum mismatch for {path}: metadata says {metadata.sha256}, "
            f"file is {actual}; refusing to unpickle it"
        )
    return metadata, data


def verify_checksum(model_dir: Path) -> ModelMetadata:
    """Check the joblib file against the metadata's sha256 without unpickling it."""
    return _verified_bytes(model_dir)[0]


class FlatForest:
    """The trained forest as flat arrays, evaluated for a whole batch at once.

    scikit-learn pays ~5 ms per `predict_proba` call on 100 trees whatever the batch size;
    walking all trees level by level with numpy gives its very probabilities in far less.
    """

    def __init__(self, forest: Any) -> None:
        trees = [est.tree_ for est in forest.estimators_]
        offsets = np.cumsum([0] + [t.node_count for t in trees[:-1]])
        self.roots = offsets.astype(np.intp)
        self.left = np.concatenate(
            [t.children_left + o for t, o in zip(trees, offsets, strict=True)]
        )
        self.right = np.concatenate(
            [t.children_right + o for t, o in zip(trees, offsets, strict=True)]
        )
        is_leaf = np.concatenate([t.children_left == -1 for t in trees])
        # Leaves point to themselves, so extra iterations are harmless.
        self.left[is_leaf] = np.flatnonzero(is_leaf)
        self.right[is_leaf] = np.flatnonzero(is_leaf)
        self.feature = np.concatenate([t.feature for t in trees]).clip(min=0).astype(np.intp)
        self.threshold = np.concatenate([t.threshold for t in trees])
        # A tree's `predict_proba` gives its leaf's value as it is (the class fractions the
        # tree stores): dividing by their sum again could move the last bit.
        n_classes = int(forest.n_classes_)
        self.leaf_value = np.concatenate([t.value[:, 0, :n_classes] for t in trees]).astype(
            np.float64
        )
        self.depth = max(t.max_depth for t in trees)
        self.n_trees = len(trees)
        self.n_features = int(forest.n_features_in_)

    def predict_proba(self, x: FloatArray) -> FloatArray:
        # scikit-learn compares float32 features with float64 thresholds; do the same.
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        if x32.shape[-1] != self.n_features:
            # Extra columns would otherwise be ignored without a word.
            raise ValueError(
                f"rows of {x32.shape[-1]} features given, the forest takes {self.n_features}"
            )
        n = x32.shape[0]
        nodes = np.broadcast_to(self.roots[:, None], (self.n_trees, n)).copy()
        rows = np.broadcast_to(np.arange(n), (self.n_trees, n))
        for _ in range(self.depth):
            go_left = x32[rows, self.feature[nodes]] <= self.threshold[nodes]
            nodes = np.where(go_left, self.left[nodes], self.right[nodes])
        # scikit-learn adds the trees' values one after another in the forest's order, then
        # divides by their number. `accumulate` is that very recurrence (a sum or mean may
        # add in pairs), so a row gets the same floats whatever its batch.
        values = self.leaf_value[nodes]
        np.add.accumulate(values, axis=0, out=values)
        proba: FloatArray = values[-1] / self.n_trees
        return proba


@dataclass(frozen=True)
class LoadedModel:
    metadata: ModelMetadata
    # The fitted classifier: a RandomForestClassifier, or any scikit-learn classifier with
    # predict_proba (a Pipeline included). The name stays `forest`, the common case.
    forest: Any
    # For a forest, one of the two: the table, or for a forest too large for it the flat walk.
    # Neither for another classifier: its own predict_proba answers.
    table: ForestTable | None
    flat: FlatForest | None

    @cached_property
    def metadata_json(self) -> str:
        """The metadata as the model announcement carries it, serialised once, not per task."""
        return self.metadata.model_dump_json()

    @cached_property
    def version_json(self) -> bytes:
        """The version as a JSON string, as the done message carries it."""
        return orjson.dumps(self.metadata.version)

    def predict_proba(self, x: FloatArray) -> FloatArray:
        # Each gives scikit-learn's very probabilities (tests/worker/test_forest_properties.py).
        if self.table is not None:
            return self.table.predict_proba(x)
        if self.flat is not None and len(x) < FLAT_FOREST_MAX_ROWS:
            return self.flat.predict_proba(x)
        proba: FloatArray = self.forest.predict_proba(x)
        return proba


def _warn_on_other_version(metadata: ModelMetadata) -> None:
    """Say so when the model comes from another scikit-learn, which does not vouch for it.

    A warning, not a refusal: refusing every other release would make users retrain at each
    upgrade, and a file that does not unpickle, or a forest unlike its metadata, is refused
    anyway.
    """
    if metadata.sklearn_version != sklearn.__version__:
        log.warning(
            "model %s was trained with scikit-learn %s and this worker runs %s: scikit-learn "
            "does not promise that a model predicts alike across versions; retrain it with %s",
            metadata.version,
            metadata.sklearn_version,
            sklearn.__version__,
            sklearn.__version__,
        )


def _listed(values: Sequence[object]) -> str:
    return ", ".join(str(v) for v in values) or "none"


def _what(model: Any) -> str:
    """The model as the refusals name it."""
    return "the forest" if isinstance(model, RandomForestClassifier) else "the model"


def _class_mismatch(model: Any, names: list[str]) -> str | None:
    """Why the metadata's class names cannot name the model's probability columns, if so.

    The columns follow `classes_`. Labels given as strings must be the names, in order;
    numeric labels (iris's 0, 1, 2) are codes that the names name by position, unless the
    names are those very labels in another order.
    """
    labels = [str(c) for c in model.classes_]
    if len(labels) != len(names):
        return (
            f"classes: the metadata names {len(names)} ({_listed(names)}), "
            f"{_what(model)} has {len(labels)} ({_listed(labels)})"
        )
    numeric = np.asarray(model.classes_).dtype.kind in "biuf"
    if labels == names or (numeric and sorted(labels) != sorted(names)):
        return None
    return f"classes: the metadata names {_listed(names)}, {_what(model)} has {_listed(labels)}"


def _feature_mismatch(model: Any, names: list[str]) -> str | None:
    n_features = int(model.n_features_in_)
    if n_features != len(names):
        return (
            f"features: the metadata lists {len(names)} ({_listed(names)}), "
            f"{_what(model)} takes {n_features}"
        )
    # Only a model fitted on named columns (a DataFrame) knows their names.
    model_names = [str(n) for n in getattr(model, "feature_names_in_", names)]
    differ = [
        f"{i + 1} is {ours!r} in the metadata, {theirs!r} in {_what(model)}"
        for i, (ours, theirs) in enumerate(zip(names, model_names, strict=True))
        if ours != theirs
    ]
    return f"feature names: {'; '.join(differ)}" if differ else None


def _check_classifier(model: Any, path: Path) -> None:
    """Refuse a file that is not a fitted scikit-learn classifier with predict_proba."""
    kind = type(model).__name__
    if not hasattr(model, "predict_proba"):
        raise ModelIntegrityError(
            f"model file {path} holds a {kind}, not a classifier with predict_proba"
        )
    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise ModelIntegrityError(
            f"model file {path} holds a {kind} that was never fitted"
        ) from exc
    except TypeError as exc:
        # check_is_fitted's answer for an object without `fit`.
        raise ModelIntegrityError(
            f"model file {path} holds a {kind}, not a scikit-learn estimator"
        ) from exc
    missing = [name for name in ("classes_", "n_features_in_") if not hasattr(model, name)]
    if missing:
        raise ModelIntegrityError(
            f"model file {path} holds a {kind} without {' or '.join(missing)}: its "
            "probabilities' classes or the features it takes cannot be checked"
        )


def _check_one_output(model: Any, path: Path) -> None:
    """Refuse a model that answers anything but one probability per class for each item."""
    if isinstance(model, RandomForestClassifier):
        if model.n_outputs_ != 1:
            raise ModelIntegrityError(
                f"model file {path} holds a forest of {model.n_outputs_} outputs; "
                "a model answers one class per item"
            )
        return
    # Other classifiers say it only by answering: one row of zeros costs one call at load.
    row = np.zeros((1, int(model.n_features_in_)))
    try:
        shape = np.shape(model.predict_proba(row))
    except Exception as exc:
        raise ModelIntegrityError(
            f"model file {path} holds a {type(model).__name__} whose predict_proba fails on "
            f"one row: {type(exc).__name__}: {exc}"
        ) from exc
    if shape != (1, len(model.classes_)):
        raise ModelIntegrityError(
            f"model file {path} holds a {type(model).__name__} whose predict_proba gives "
            f"shape {shape} for one row of {len(model.classes_)} classes; "
            "a model answers one class per item"
        )


def _check_model(model: Any, metadata: ModelMetadata, path: Path) -> None:
    """Refuse a file that is not a fitted classifier answering the metadata's question."""
    _check_classifier(model, path)
    if isinstance(model, RandomForestClassifier) and not hasattr(model, "estimators_"):
        raise ModelIntegrityError(f"model file {path} holds a forest that was never fitted")
    _check_one_output(model, path)
    feature_names = [feature.get("name", "") for feature in metadata.features]
    problems = [
        problem
        for problem in (
            _class_mismatch(model, metadata.classes),
            _feature_mismatch(model, feature_names),
        )
        if problem is not None
    ]
    if problems:
        raise ModelIntegrityError(
            f"model {metadata.version} at {path} does not match its metadata: "
            + "; and ".join(problems)
        )


def load_model(model_dir: Path) -> LoadedModel:
    metadata, data = _verified_bytes(model_dir)
    path = model_dir / MODEL_FILE
    _warn_on_other_version(metadata)
    try:
        model = joblib.load(io.BytesIO(data))
    except Exception as exc:
        # A file that matches its checksum yet won't unpickle (written corrupt or truncated,
        # another library version): the same refusal as a mismatch.
        raise ModelIntegrityError(
            f"model file {path} could not be loaded: {type(exc).__name__} "
            f"(trained with scikit-learn {metadata.sklearn_version}, "
            f"this worker runs {sklearn.__version__})"
        ) from exc
    _check_model(model, metadata, path)
    if not isinstance(model, RandomForestClassifier):
        log.info("model loaded version=%s dir=%s", metadata.version, model_dir)
        return LoadedModel(metadata=metadata, forest=model, table=None, flat=None)
    forest = model
    # scikit-learn's own call (a large batch without a table) then adds the trees in the
    # forest's order, as the table and the flat walk do: with more jobs, threads add them in
    # the order they finish, and the last bit of a sum can differ.
    forest.set_params(n_jobs=1)
    table = forest_table(forest, MAX_TABLE_ENTRIES)
    flat = FlatForest(forest) if table is None else None
    if table is None:
        log.warning(
            "model %s would have a table of %d probabilities, more than %d: it is evaluated "
            "tree by tree",
            metadata.version,
            table_entries(forest),
            MAX_TABLE_ENTRIES,
        )
    log.info("model loaded version=%s dir=%s", metadata.version, model_dir)
    return LoadedModel(metadata=metadata, forest=forest, table=table, flat=flat)
