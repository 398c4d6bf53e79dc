"""Throwaway model directories that are wrong in one precise way."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

from worker.train import METADATA_FILE, MODEL_FILE, sha256_of


def corrupt_but_consistent_model(model_dir: Path, into: Path) -> Path:
    """A model dir whose file is garbage yet matches its metadata's sha256.

    The worker's main process checks only the checksum and starts; unpickling then fails
    in the pool process, on every task: a task that raises, forced honestly.
    """
    shutil.copytree(model_dir, into)
    (into / MODEL_FILE).write_bytes(b"this is not a pickle\x00" * 64)
    metadata = json.loads((into / METADATA_FILE).read_text())
    metadata["sha256"] = sha256_of(into / MODEL_FILE)
    (into / METADATA_FILE).write_text(json.dumps(metadata))
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
