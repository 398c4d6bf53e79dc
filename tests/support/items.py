"""Request items: a known flower, and fresh ones that no cache has seen."""

from __future__ import annotations

import itertools
import random

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
# Cache keys keep four decimals (the contract's CANONICAL_DECIMALS): a counter in the decimals of
# sepal_length (4.0000 to 7.9999) and, past that range, of petal_width makes items distinct.
_SWEEP = 40_000
_unique = itertools.count()


def fresh_item() -> dict[str, float]:
    """An item no other test of this session has sent: a guaranteed cache miss."""
    n = next(_unique)
    return {
        "sepal_length": round(4 + (n % _SWEEP) / 10_000, 4),
        "sepal_width": round(random.uniform(2, 4.5), 1),
        "petal_length": round(random.uniform(1, 7), 1),
        "petal_width": round(round(random.uniform(0.1, 2.4), 1) + (n // _SWEEP) / 10_000, 4),
    }


def fresh_body(n: int) -> dict[str, list[dict[str, float]]]:
    """A /predict body of `n` fresh items."""
    return {"items": [fresh_item() for _ in range(n)]}
