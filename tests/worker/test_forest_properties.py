"""The table and the flat walk give `predict_proba`'s very floats, for forests of any shape."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier

from worker.forest_table import forest_table, table_entries
from worker.model import FlatForest

FloatArray = npt.NDArray[np.float64]

# Integer features make the trees share thresholds; one decimal, as the API's centimetres
# come, puts thresholds on float32 midpoints; continuous ones give each node its own.
FEATURE_KINDS = ("integers", "one decimal", "continuous")
# A grid holds at most the product of the features' distinct training values: kept this
# small, every drawn forest gets a table that builds in milliseconds.
MAX_GRID = 50_000


def _features(rng: np.random.Generator, kind: str, shape: tuple[int, int]) -> FloatArray:
    if kind == "integers":
        return rng.integers(0, 5, size=shape).astype(np.float64)
    if kind == "one decimal":
        return np.round(rng.normal(scale=3, size=shape), 1)
    return rng.normal(scale=3, size=shape)


@st.composite
def forests(draw: st.DrawFn) -> tuple[RandomForestClassifier, FloatArray]:
    """A fitted forest and rows like its training rows, from a drawn shape and seed."""
    n_features = draw(st.integers(1, 6))
    n_classes = draw(st.integers(2, 5))
    kind = draw(st.sampled_from(FEATURE_KINDS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_samples = draw(st.integers(n_classes, 100))
    x = _features(rng, kind, (n_samples, n_features))
    while len(x) > n_classes and math.prod(len(np.unique(c)) for c in x.T) > MAX_GRID:
        x = x[: max(n_classes, len(x) // 2)]
    y = rng.integers(0, n_classes, size=len(x))
    y[:n_classes] = np.arange(n_classes)  # every class present
    forest = RandomForestClassifier(
        n_estimators=draw(st.integers(1, 10)),
        max_depth=draw(st.sampled_from([1, 2, 3, 5, None])),
        # Weighted counts give leaf fractions that a second division by their sum could move.
        class_weight=draw(st.sampled_from([None, "balanced"])),
        random_state=int(rng.integers(2**31)),
    ).fit(x, y)
    rows = _features(rng, kind, (20, n_features)) * 1.5
    return forest, rows


def _thresholds(forest: RandomForestClassifier) -> list[FloatArray]:
    """Each feature's thresholds, read from the trees (not from the table under test)."""
    trees = [estimator.tree_ for estimator in forest.estimators_]
    return [
        np.unique(np.concatenate([t.threshold[t.feature == f] for t in trees]))
        for f in range(forest.n_features_in_)
    ]


def _on_and_beside_thresholds(forest: RandomForestClassifier, base: FloatArray) -> FloatArray:
    """Rows whose one feature sits on a threshold or one step beside it, in float64 and in
    float32 (the trees compare the row as float32)."""
    rows = [base]
    for feature, thresholds in enumerate(_thresholds(forest)):
        t32 = thresholds.astype(np.float32)
        for values in (
            thresholds,
            np.nextafter(thresholds, -np.inf),
            np.nextafter(thresholds, np.inf),
            t32,
            np.nextafter(t32, np.float32(-np.inf)),
            np.nextafter(t32, np.float32(np.inf)),
        ):
            edge = base[np.arange(len(values)) % len(base)].copy()
            edge[:, feature] = values.astype(np.float64)
            rows.append(edge)
    return np.vstack(rows)


@settings(max_examples=100, deadline=None)
@given(forests())
def test_the_table_and_the_flat_walk_give_predict_probas_floats(
    drawn: tuple[RandomForestClassifier, FloatArray],
) -> None:
    forest, base = drawn
    rows = _on_and_beside_thresholds(forest, base)
    expected = forest.predict_proba(rows)
    table = forest_table(forest)
    assert table is not None
    np.testing.assert_array_equal(table.predict_proba(rows), expected)
    np.testing.assert_array_equal(FlatForest(forest).predict_proba(rows), expected)


@settings(max_examples=30, deadline=None)
@given(forests(), st.data())
def test_a_row_gets_the_same_floats_alone_as_in_a_batch(
    drawn: tuple[RandomForestClassifier, FloatArray], data: st.DataObject
) -> None:
    forest, base = drawn
    rows = _on_and_beside_thresholds(forest, base)
    picked = data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=30))
    table = forest_table(forest)
    assert table is not None
    flat = FlatForest(forest)
    for evaluate in (table.predict_proba, flat.predict_proba):
        batch = evaluate(rows)
        for i in picked:
            np.testing.assert_array_equal(evaluate(rows[i : i + 1]), batch[i : i + 1])


def test_a_forest_past_the_limit_gets_no_table_and_the_flat_walk_serves_it() -> None:
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(scale=3, size=(60, 3)), 1)
    y = rng.integers(0, 4, size=60)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    entries = table_entries(forest)
    cells = np.prod([len(t) + 1 for t in _thresholds(forest)])
    assert entries == cells * 4  # the guard counts every class's probability
    assert forest_table(forest, max_entries=entries) is not None
    assert forest_table(forest, max_entries=entries - 1) is None
    rows = _on_and_beside_thresholds(forest, x[:20])
    np.testing.assert_array_equal(
        FlatForest(forest).predict_proba(rows), forest.predict_proba(rows)
    )


def test_a_grid_whose_size_passes_int64_gets_no_table() -> None:
    # Four features of 65,535 thresholds: 2**64 cells, which int64 arithmetic wraps to 0.
    thresholds = np.arange(65_535, dtype=np.float64)
    tree = SimpleNamespace(
        feature=np.repeat(np.arange(4), len(thresholds)), threshold=np.tile(thresholds, 4)
    )
    forest = SimpleNamespace(
        estimators_=[SimpleNamespace(tree_=tree)], n_features_in_=4, n_classes_=2
    )
    assert table_entries(forest) == 2**65
    assert forest_table(forest) is None
