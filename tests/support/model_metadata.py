"""Model metadata for tests that need a model's description but no model file."""

from __future__ import annotations

from contract.http import FEATURES
from contract.model import ModelMetadata

IRIS_CLASSES = ["setosa", "versicolor", "virginica"]


def model_metadata(
    version: str,
    *,
    classes: list[str] | None = None,
    features: tuple[str, ...] = FEATURES,
    deciles: dict[str, list[float]] | None = None,
) -> ModelMetadata:
    return ModelMetadata(
        name="iris-forest",
        version=version,
        sha256="0" * 64,
        trained_at="2026-01-01T00:00:00Z",
        sklearn_version="1.9.1",
        features=[{"name": name, "unit": "cm"} for name in features],
        classes=IRIS_CLASSES if classes is None else classes,
        holdout_accuracy=1.0,
        n_estimators=1,
        random_state=0,
        feature_deciles=deciles,
    )
