"""The model announcement: the metadata a worker publishes in Redis for the gateways."""

from __future__ import annotations

from pydantic import BaseModel

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
    n_estimators: int
    random_state: int
