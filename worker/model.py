"""Model loading (checksum first, then unpickle) and fast evaluation of the forest."""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import orjson
from pydantic import ValidationError

from contract.model import ModelMetadata
from worker.forest_table import MAX_CELLS, ForestTable, forest_table

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


def _one_line(exc: ValidationError) -> str:
    """pydantic's errors in one log line: `name: Field required; ...`."""
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        return f"not valid JSON ({errors[0]['ctx'].get('error', 'unreadable')})"
    fields = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'file'}: {error['msg']}"
        for error in errors
    )
    return f"not an irisq model's metadata ({len(errors)} problems: {fields})"


def _read(path: Path, what: str) -> bytes:
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
        return ModelMetadata.model_validate_json(_read(path, "model metadata"))
    except ValidationError as exc:
        raise ModelIntegrityError(f"model metadata at {path} is {_one_line(exc)}") from exc


def _verified_bytes(model_dir: Path) -> tuple[ModelMetadata, bytes]:
    """The model file's bytes, read once, and its metadata, once the bytes match its sha256.

    The caller unpickles these very bytes: nothing can change the file between the check
    and the load.
    """
    metadata = read_metadata(model_dir)
    path = model_dir / MODEL_FILE
    data = _read(path, "model file")
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
    walking all trees level by level with numpy gives the same probabilities in far less.
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
        values = np.concatenate([t.value[:, 0, :] for t in trees]).astype(np.float64)
        self.leaf_proba = values / values.sum(axis=1, keepdims=True)
        self.depth = max(t.max_depth for t in trees)
        self.n_trees = len(trees)

    def predict_proba(self, x: FloatArray) -> FloatArray:
        # scikit-learn compares float32 features with float64 thresholds; do the same.
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        n = x32.shape[0]
        nodes = np.broadcast_to(self.roots[:, None], (self.n_trees, n)).copy()
        rows = np.broadcast_to(np.arange(n), (self.n_trees, n))
        for _ in range(self.depth):
            go_left = x32[rows, self.feature[nodes]] <= self.threshold[nodes]
            nodes = np.where(go_left, self.left[nodes], self.right[nodes])
        proba: FloatArray = self.leaf_proba[nodes].mean(axis=0)
        return proba


@dataclass(frozen=True)
class LoadedModel:
    metadata: ModelMetadata
    forest: Any
    # One of the two: the table, or for a forest too large for it the flat walk.
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
        # Each gives scikit-learn's probabilities (tests/worker/test_model.py).
        if self.table is not None:
            return self.table.predict_proba(x)
        if self.flat is not None and len(x) < FLAT_FOREST_MAX_ROWS:
            return self.flat.predict_proba(x)
        proba: FloatArray = self.forest.predict_proba(x)
        return proba


def load_model(model_dir: Path) -> LoadedModel:
    metadata, data = _verified_bytes(model_dir)
    try:
        forest = joblib.load(io.BytesIO(data))
        table = forest_table(forest)
        flat = FlatForest(forest) if table is None else None
    except Exception as exc:
        # A file that matches its checksum yet is no forest (written corrupt or truncated,
        # wrong library version): the same refusal as a mismatch.
        raise ModelIntegrityError(
            f"model file {model_dir / MODEL_FILE} could not be loaded: {type(exc).__name__}"
        ) from exc
    if table is None:
        log.warning(
            "model %s cuts more than %d cells: it is evaluated tree by tree, not from its table",
            metadata.version,
            MAX_CELLS,
        )
    log.info("model loaded version=%s dir=%s", metadata.version, model_dir)
    return LoadedModel(metadata=metadata, forest=forest, table=table, flat=flat)
