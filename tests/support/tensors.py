"""The Open Inference Protocol's tests: fresh rows as a tensor, and `/predict`'s answer for them."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np

from contract.http import FEATURES
from tests.support.items import fresh_item


def fresh_rows(n: int, dtype: str) -> np.ndarray:
    """`n` fresh items (cache misses) as an [n, 4] tensor of `dtype`, in FEATURES order."""
    items = [fresh_item() for _ in range(n)]
    return np.array([[item[f] for f in FEATURES] for item in items], dtype)


def predicted_items(http: httpx.Client, rows: np.ndarray) -> list[dict[str, Any]]:
    """POST /predict's items for the same rows (float32 values as the doubles they are)."""
    items = [dict(zip(FEATURES, map(float, row), strict=True)) for row in rows]
    response = http.post("/predict", json={"items": items})
    assert response.status_code == 200, response.text
    answered: list[dict[str, Any]] = response.json()["items"]
    return answered
