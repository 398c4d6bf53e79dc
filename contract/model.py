"""The model announcement: the metadata a worker publishes in Redis for the gateways."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from contract.keys import KEY_PREFIX

# A worker sets this key to its model's metadata (JSON) with every task and every 10 s.
MODEL_KEY = f"{KEY_PREFIX}:model"
# The announcement lapses this long after the last one: no worker, no model.
MODEL_TTL_SECONDS = 60


class ModelMetadata(BaseModel):
    name: str
    version: str
    sha256: str
    trained_at: str
    sklearn_version: str
    features: list[dict[str, str]]
    classes: list[str]
    holdout_accuracy: float
    # The kind of classifier (random_forest, gradient_boosting, logistic_regression) and the
    # parameters training set on it (the seed has its own field). Metadata without them
    # describes a random forest.
    estimator: str = "random_forest"
    params: dict[str, Any] = Field(default_factory=dict)
    # The ensemble's members (trees, boosting stages); 0 for an estimator that is no ensemble.
    n_estimators: int
    # The seed, given to the estimator's random_state.
    random_state: int
    # The nine inner deciles of each feature over the training rows, by feature name: the
    # edges of the bins the workers count inputs in to see drift (worker/drift.py). None for
    # a version trained without them: its inputs are not binned.
    feature_deciles: dict[str, list[float]] | None = None
