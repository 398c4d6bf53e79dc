"""Train the iris RandomForest and write model.joblib + model_metadata.json.

Usage: python -m worker.train [--model-dir DIR]
(`python -m worker.models train` adds a version to the registry instead: worker/registry.py.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import joblib
import sklearn
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

from contract.http import FEATURES
from contract.model import ModelMetadata
from worker.model import METADATA_FILE, MODEL_FILE, read_metadata
from worker.registry import VERSIONS_DIR
from worker.settings import WorkerSettings

N_ESTIMATORS = 100
RANDOM_STATE = 42
HOLDOUT_FRACTION = 0.2
# The hold-out split does not follow a version's seed: every version is scored on the same
# rows, so their accuracies compare.
SPLIT_RANDOM_STATE = RANDOM_STATE

log = logging.getLogger("irisq.train")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def train(
    model_dir: Path, *, n_estimators: int = N_ESTIMATORS, seed: int = RANDOM_STATE
) -> ModelMetadata:
    """Train a forest into `model_dir` and return its metadata; the same seed, the same file."""
    iris = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data,
        iris.target,
        test_size=HOLDOUT_FRACTION,
        stratify=iris.target,
        random_state=SPLIT_RANDOM_STATE,
    )
    forest = RandomForestClassifier(n_estimators=n_estimators, random_state=seed)
    forest.fit(x_train, y_train)
    accuracy = float(forest.score(x_test, y_test))

    model_dir.mkdir(parents=True, exist_ok=True)
    model_path = model_dir / MODEL_FILE
    # Write to a temporary name then rename, so a worker never sees half a file.
    tmp = model_path.with_suffix(".tmp")
    joblib.dump(forest, tmp)
    os.replace(tmp, model_path)
    sha = sha256_of(model_path)

    metadata = ModelMetadata(
        name="iris-random-forest",
        version=f"rf-{sha[:12]}",
        sha256=sha,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        sklearn_version=sklearn.__version__,
        features=[{"name": name, "unit": "cm"} for name in FEATURES],
        classes=[str(c) for c in iris.target_names],
        holdout_accuracy=accuracy,
        n_estimators=n_estimators,
        random_state=seed,
    )
    meta_tmp = model_dir / (METADATA_FILE + ".tmp")
    meta_tmp.write_text(json.dumps(metadata.model_dump(), indent=2) + "\n")
    os.replace(meta_tmp, model_dir / METADATA_FILE)
    return metadata


def train_version(
    root: Path, *, n_estimators: int = N_ESTIMATORS, seed: int = RANDOM_STATE
) -> tuple[ModelMetadata, bool]:
    """Train a version into the registry, unserved; False when that very version was there.

    It trains into a hidden directory beside the versions and renames it into place, so a
    version directory is never half written.
    """
    versions = root / VERSIONS_DIR
    versions.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".training-", dir=versions))
    try:
        # mkdtemp's 0700 would hide the version from workers running as another user.
        staging.chmod(0o755)
        metadata = train(staging, n_estimators=n_estimators, seed=seed)
        target = versions / metadata.version
        if target.exists():
            return read_metadata(target), False
        try:
            staging.rename(target)
        except OSError:
            # The same version, trained at the same moment by another command.
            return read_metadata(target), False
        return metadata, True
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=WorkerSettings().model_dir)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    metadata = train(args.model_dir)
    log.info(
        "trained model version=%s holdout_accuracy=%.3f dir=%s",
        metadata.version,
        metadata.holdout_accuracy,
        args.model_dir,
    )


if __name__ == "__main__":
    main()
