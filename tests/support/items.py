"""Request items: a known flower, and fresh ones that no cache has seen."""

from __future__ import annotations

import itertools
import random

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
_unique = itertools.count(1)


def fresh_item() -> dict[str, float]:
    """An item no other test has sent: a guaranteed cache miss."""
    n = next(_unique)
    return {
        "sepal_length": round(random.uniform(4, 8), 1) + n * 1e-4 % 0.01,
        "sepal_width": round(random.uniform(2, 4.5), 1),
        "petal_length": round(random.uniform(1, 7), 1),
        "petal_width": round(random.uniform(0.1, 2.5), 1) + (n % 997) * 1e-4 + 1e-4,
    }
