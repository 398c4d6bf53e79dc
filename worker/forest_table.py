"""The forest as a table: its probabilities in every cell of the grid its thresholds cut.

A tree sends a row left at a node when the row's feature, as float32, is at most the node's
threshold (scikit-learn compares float32 features with float64 thresholds). Between two
neighbouring thresholds of a feature every node of every tree decides alike, so the forest
gives one probability vector per cell of the grid that all its thresholds cut: on iris,
100 trees cut about 333,000 cells (27, 22, 33 and 17 along the features: 8 MB).

`RandomForestClassifier.predict_proba` adds each tree's leaf value (the class fractions
`tree_.value` holds, used as they are) into zeros, tree after tree in the forest's order,
and divides the sum by the number of trees. The table holds each cell's vector summed and
divided the same way, so a lookup gives its very floats. A batch then costs one binary
search per feature and one gather whatever the number of trees, where the trees cost a
walk per tree and row.

Built from the documented `tree_` arrays (feature, threshold, children, value) for a forest
of one output, and defined for finite rows (the API's bounds). A forest whose table would
hold more than `MAX_TABLE_ENTRIES` probabilities gets none (`forest_table` returns None):
the caller then walks the trees.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Cells times classes, the float64 probabilities a table holds: 48 MiB, and as much again while
# it is built. worker/train.py's iris forest would pass it at about 550 trees.
MAX_TABLE_ENTRIES = 3 * 2**21

_Box = list[tuple[int, int]]


class ForestTable:
    def __init__(self, thresholds: list[FloatArray], table: FloatArray) -> None:
        self.thresholds = thresholds
        self.table = table
        self.n_features = len(thresholds)

    def predict_proba(self, x: FloatArray) -> FloatArray:
        # The row as scikit-learn's input check gives it to the trees: float32.
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        if x32.shape[-1] != self.n_features:
            # Extra columns would otherwise be ignored without a word.
            raise ValueError(
                f"rows of {x32.shape[-1]} features given, the forest takes {self.n_features}"
            )
        # A row's cell along a feature is how many thresholds lie below its value: every
        # threshold below sends it right, every other one left.
        cell = np.zeros(len(x32), dtype=np.intp)
        for feature, cuts in enumerate(self.thresholds):
            cell *= len(cuts) + 1
            cell += np.searchsorted(cuts, x32[:, feature], side="left")
        proba: FloatArray = self.table[cell]
        return proba


def _cuts(trees: list[Any], n_features: int) -> list[FloatArray]:
    return [
        np.unique(np.concatenate([tree.threshold[tree.feature == f] for tree in trees]))
        for f in range(n_features)
    ]


def table_entries(forest: Any) -> int:
    """How many probabilities the forest's table holds: cells times classes.

    A Python int: the product of a few features' threshold counts passes int64 easily.
    """
    trees = [estimator.tree_ for estimator in forest.estimators_]
    cuts = _cuts(trees, int(forest.n_features_in_))
    return math.prod(len(c) + 1 for c in cuts) * int(forest.n_classes_)


def _add_leaves(tree: Any, cuts: list[FloatArray], grid: FloatArray, n_classes: int) -> None:
    """Add each leaf's probabilities to the cells of its box; a tree's leaves tile the grid."""
    left, right = tree.children_left, tree.children_right
    stack: list[tuple[int, _Box]] = [(0, [(0, len(c) + 1) for c in cuts])]
    while stack:
        node, box = stack.pop()
        if left[node] == -1:
            cells = tuple(slice(lo, hi) for lo, hi in box)
            for k in range(n_classes):
                grid[k][cells] += tree.value[node, 0, k]
            continue
        feature = int(tree.feature[node])
        # Cells up to the threshold's own index lie at or below it: they go left.
        split = int(np.searchsorted(cuts[feature], tree.threshold[node], side="left")) + 1
        lo, hi = box[feature]
        parts = ((left[node], (lo, min(hi, split))), (right[node], (max(lo, split), hi)))
        for child, part in parts:
            if part[0] < part[1]:
                stack.append((int(child), [*box[:feature], part, *box[feature + 1 :]]))


def forest_table(forest: Any, max_entries: int = MAX_TABLE_ENTRIES) -> ForestTable | None:
    """The forest's table, or None when it would hold more than `max_entries` probabilities."""
    trees = [estimator.tree_ for estimator in forest.estimators_]
    n_classes = int(forest.n_classes_)
    cuts = _cuts(trees, int(forest.n_features_in_))
    shape = tuple(len(c) + 1 for c in cuts)
    if math.prod(shape) * n_classes > max_entries:
        return None
    # One plane per class while adding: a leaf's box is then a block of scalars to add.
    grid = np.zeros((n_classes, *shape), dtype=np.float64)
    for tree in trees:
        _add_leaves(tree, cuts, grid, n_classes)
    grid /= len(trees)
    table = np.ascontiguousarray(grid.reshape(n_classes, -1).T)
    return ForestTable(cuts, table)
