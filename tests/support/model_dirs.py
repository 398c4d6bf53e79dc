"""Throwaway model directories that are wrong in one precise way."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

from worker.model import METADATA_FILE, MODEL_FILE
from worker.train import sha256_of


def _consistent_with(model_dir: Path, into: Path, content: bytes) -> Path:
    """A copy of the model dir whose model file holds `content`, its sha256 in the metadata."""
    shutil.copytree(model_dir, into)
    (into / MODEL_FILE).write_bytes(content)
    metadata = json.loads((into / METADATA_FILE).read_text())
    metadata["sha256"] = sha256_of(into / MODEL_FILE)
    (into / METADATA_FILE).write_text(json.dumps(metadata))
    return into


def tampered_model(model_dir: Path, into: Path) -> Path:
    """A model dir whose file no longer matches its metadata's sha256."""
    shutil.copytree(model_dir, into)
    with (into / MODEL_FILE).open("ab") as f:
        f.write(b"tampered")
    return into


def corrupt_but_consistent_model(model_dir: Path, into: Path) -> Path:
    """A model dir whose file is garbage yet matches its metadata's sha256."""
    return _consistent_with(model_dir, into, b"this is not a pickle\x00" * 64)


def truncated_but_consistent_model(model_dir: Path, into: Path) -> Path:
    """A model dir whose file is cut in half (a copy that stopped), its sha256 updated."""
    content = (model_dir / MODEL_FILE).read_bytes()
    return _consistent_with(model_dir, into, content[: len(content) // 2])


# The metadata file of the scikit-learn iris tutorial: valid JSON, another project's fields.
TUTORIAL_METADATA = {
    "dataset": "iris",
    "model": "RandomForestClassifier",
    "accuracy": 0.97,
    "target_names": ["setosa", "versicolor", "virginica"],
}


def with_metadata(model_dir: Path, into: Path, content: str) -> Path:
    """A copy of the model dir whose metadata file holds `content`."""
    shutil.copytree(model_dir, into)
    (into / METADATA_FILE).write_text(content)
    return into


def with_directory_for(model_dir: Path, into: Path, name: str) -> Path:
    """A copy of the model dir where the file `name` is a directory: unreadable, even to root."""
    shutil.copytree(model_dir, into)
    (into / name).unlink()
    (into / name).mkdir()
    return into


class _Payload:
    """Unpickling this creates `marker`: proof that the file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def swapped_for_a_hostile_pickle(model_dir: Path, into: Path, marker: Path) -> Path:
    """A model dir whose model file was replaced by a pickle that runs code when loaded.

    The metadata (and its sha256) is left as it was: what an attacker who can write only
    the model file, or a bad copy, produces.
    """
    shutil.copytree(model_dir, into)
    (into / MODEL_FILE).write_bytes(pickle.dumps(_Payload(marker)))
    return into
