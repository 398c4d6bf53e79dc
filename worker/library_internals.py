"""The one private library internal the worker relies on, fenced: scikit-learn's `Tree.predict`.

`ForestClassifier.predict_proba` adds each tree's `tree_.predict` (compiled) to zeros in
order and divides by the number of trees, after a joblib dispatch and per-tree input checks
that cost milliseconds a call whatever the batch size. TreeSum does the same arithmetic
without them; `Tree.predict` is the compiled tree's own method, not documented API. In
`make bench`, scikit-learn's own call for batches of 64 rows and more takes batch100 at c16
from 656 to 415 req/s, with the workers' CPU per request 830 -> 1,693 µs (docs/performance.md).

It is used only with the scikit-learn versions it was checked against (SKLEARN_CHECKED);
with any other the model calls scikit-learn's `predict_proba` and the worker logs a warning.
tests/worker/test_library_internals.py fails when the installed scikit-learn is not one of
them or TreeSum no longer gives scikit-learn's probabilities.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import sklearn

log = logging.getLogger("irisq.model")

# Major.minor versions of scikit-learn whose trees this was checked against.
SKLEARN_CHECKED = ("1.9",)


def sklearn_checked(version: str = sklearn.__version__) -> bool:
    return ".".join(version.split(".")[:2]) in SKLEARN_CHECKED


class TreeSum:
    """scikit-learn's forest arithmetic without its per-call overhead, for large batches."""

    def __init__(self, forest: Any) -> None:
        self.trees = [est.tree_ for est in forest.estimators_]
        self.n_classes = int(forest.n_classes_)

    def predict_proba(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        # The dtype and layout scikit-learn's own input check gives the trees.
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        proba: npt.NDArray[np.float64] = np.zeros((len(x32), self.n_classes), dtype=np.float64)
        for tree in self.trees:
            proba += tree.predict(x32)[:, : self.n_classes]
        proba /= len(self.trees)
        return proba


def tree_sum(forest: Any) -> TreeSum | None:
    """A TreeSum of the forest, or None (scikit-learn's own call) on an unchecked version."""
    if sklearn_checked():
        return TreeSum(forest)
    log.warning(
        "scikit-learn %s is not one of the versions %s the tree sum was checked against: "
        "large batches take scikit-learn's own, slower predict_proba",
        sklearn.__version__,
        ", ".join(SKLEARN_CHECKED),
    )
    return None
