"""Train an iris classifier and write model.joblib + model_metadata.json.

Usage: python -m worker.train [--model-dir DIR]   (the random forest)
(`python -m worker.models train` adds a version to the registry instead, of any estimator in
ESTIMATORS: worker/registry.py.)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.datasets import load_iris
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

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
# The nine inner deciles, 0.1 to 0.9: exact tenths, where np.linspace would drift in the last bit.
DECILES = np.arange(1, 10) / 10

log = logging.getLogger("irisq.train")

# A parameter's value as `--param name=value` gives it.
ParamValue = int | float | bool | str | None


class ParameterError(ValueError):
    """The estimator does not take a parameter, or refuses its value; nothing is trained."""


@dataclass(frozen=True)
class Estimator:
    """A kind of classifier `train` fits, and how the CLI, the version and the metadata name it."""

    # `--estimator`, the version's prefix, ModelMetadata.estimator and .name.
    option: str
    prefix: str
    kind: str
    name: str
    classifier: type[Any]
    # Behind a StandardScaler, in a Pipeline: logistic regression's penalty then weighs every
    # feature alike (on raw centimetres it favours the wide ones), and a weak penalty (a large
    # C) still converges within the solver's default iterations. `--param` sets the classifier's
    # parameters, not the scaler's.
    scaled: bool = False

    @property
    def ensemble(self) -> bool:
        """Whether it takes n_estimators (`--n-estimators`)."""
        return "n_estimators" in self.parameters

    @property
    def parameters(self) -> list[str]:
        """The parameters `--param` may set: the classifier's own, but its seed (`--seed`)."""
        return sorted(set(self.classifier().get_params(deep=False)) - {"random_state"})

    def build(self, params: Mapping[str, ParamValue], seed: int) -> Any:
        classifier = self.classifier(**params, random_state=seed)
        return make_pipeline(StandardScaler(), classifier) if self.scaled else classifier


ESTIMATORS = {
    estimator.option: estimator
    for estimator in (
        Estimator("rf", "rf", "random_forest", "iris-random-forest", RandomForestClassifier),
        Estimator(
            "gbt", "gbt", "gradient_boosting", "iris-gradient-boosting", GradientBoostingClassifier
        ),
        Estimator(
            "logreg",
            "lr",
            "logistic_regression",
            "iris-logistic-regression",
            LogisticRegression,
            scaled=True,
        ),
    )
}


def estimator_params(
    estimator: Estimator, params: Mapping[str, ParamValue], n_estimators: int | None
) -> dict[str, ParamValue]:
    """The parameters the estimator is built with; refuses a name it does not take.

    `n_estimators` is `--n-estimators`, a shortcut for the ensembles' parameter; an ensemble
    given neither gets N_ESTIMATORS.
    """
    if "random_state" in params:
        raise ParameterError(
            f"{estimator.option} takes its random_state from the seed (--seed), not --param"
        )
    unknown = [name for name in params if name not in estimator.parameters]
    if unknown:
        raise ParameterError(
            f"{estimator.option} has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are {', '.join(estimator.parameters)}"
        )
    resolved = dict(params)
    if n_estimators is not None:
        if not estimator.ensemble:
            raise ParameterError(
                f"{estimator.option} has no n_estimators: --n-estimators is for "
                + " and ".join(e.option for e in ESTIMATORS.values() if e.ensemble)
            )
        if "n_estimators" in params:
            raise ParameterError("n_estimators given twice: by --n-estimators and by --param")
        resolved["n_estimators"] = n_estimators
    elif estimator.ensemble:
        resolved.setdefault("n_estimators", N_ESTIMATORS)
    return resolved


def feature_deciles(x: np.ndarray[Any, Any]) -> dict[str, list[float]]:
    """Each feature's nine inner deciles over the rows `x`, by the API's feature name."""
    return {
        name: [float(v) for v in np.quantile(x[:, i], DECILES)] for i, name in enumerate(FEATURES)
    }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _members(model: Any) -> int:
    """The members the ensemble fitted, 0 for an estimator that is no ensemble.

    Fitted, not asked for: early stopping (n_iter_no_change) may fit fewer boosting stages.
    """
    if hasattr(model, "n_estimators_"):
        return int(model.n_estimators_)
    return len(getattr(model, "estimators_", []))


def train(
    model_dir: Path,
    *,
    estimator: str = "rf",
    params: Mapping[str, ParamValue] | None = None,
    n_estimators: int | None = None,
    seed: int = RANDOM_STATE,
) -> ModelMetadata:
    """Train a classifier into `model_dir` and return its metadata.

    `estimator` is a key of ESTIMATORS, `params` its parameters (ParameterError before any
    training for one it does not take). The same estimator, parameters and seed give the
    same file.
    """
    spec = ESTIMATORS[estimator]
    resolved = estimator_params(spec, params or {}, n_estimators)
    model = spec.build(resolved, seed)
    iris = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data,
        iris.target,
        test_size=HOLDOUT_FRACTION,
        stratify=iris.target,
        random_state=SPLIT_RANDOM_STATE,
    )
    try:
        model.fit(x_train, y_train)
    except (ValueError, TypeError) as exc:
        # scikit-learn checks a parameter's value when it fits; on iris's fixed rows nothing
        # else raises these.
        raise ParameterError(f"{spec.option} refuses its parameters: {exc}") from exc
    accuracy = float(model.score(x_test, y_test))

    model_dir.mkdir(parents=True, exist_ok=True)
    model_path = model_dir / MODEL_FILE
    # Write to a temporary name then rename, so a worker never sees half a file.
    tmp = model_path.with_suffix(".tmp")
    joblib.dump(model, tmp)
    os.replace(tmp, model_path)
    sha = sha256_of(model_path)

    metadata = ModelMetadata(
        name=spec.name,
        version=f"{spec.prefix}-{sha[:12]}",
        sha256=sha,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        sklearn_version=sklearn.__version__,
        features=[{"name": name, "unit": "cm"} for name in FEATURES],
        classes=[str(c) for c in iris.target_names],
        holdout_accuracy=accuracy,
        estimator=spec.kind,
        params=resolved,
        n_estimators=_members(model),
        random_state=seed,
        feature_deciles=feature_deciles(x_train),
    )
    meta_tmp = model_dir / (METADATA_FILE + ".tmp")
    meta_tmp.write_text(json.dumps(metadata.model_dump(), indent=2) + "\n")
    os.replace(meta_tmp, model_dir / METADATA_FILE)
    return metadata


def train_version(
    root: Path,
    *,
    estimator: str = "rf",
    params: Mapping[str, ParamValue] | None = None,
    n_estimators: int | None = None,
    seed: int = RANDOM_STATE,
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
        metadata = train(
            staging, estimator=estimator, params=params, n_estimators=n_estimators, seed=seed
        )
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
