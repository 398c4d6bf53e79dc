"""DriftRecorder: inputs counted by their version's training-decile bins, classes by version.

The counters are real prometheus_client ones, in a registry of each test's own (the served
one, worker.metrics.REGISTRY, in the one test of the default wiring).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from celery.signals import worker_process_shutdown
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter
from sklearn.datasets import load_iris

from contract.http import FEATURES
from contract.model import ModelMetadata
from tests.support.model_metadata import IRIS_CLASSES, model_metadata
from worker import drift, metrics
from worker.drift import NUMPY_FROM_ROWS, DriftRecorder

IRIS = load_iris().data
# The nine inner deciles of every feature over iris's rows, as training computes them.
IRIS_DECILES = {
    name: np.quantile(IRIS[:, i], np.arange(1, 10) / 10).tolist() for i, name in enumerate(FEATURES)
}
# Edges of 1 to 9 for every feature: a value's bin is plain to see.
UNIT_EDGES = {name: [float(e) for e in range(1, 10)] for name in FEATURES}
BIN = "irisq_worker_feature_bin_total"
PREDICTED = "irisq_worker_predictions_total"


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Counted:
    """A recorder on counters of a registry of its own, and a clock it reads."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        bins = Counter(BIN, "bins", ["model_version", "feature", "bin"], registry=self.registry)
        classes = Counter(PREDICTED, "classes", ["model_version", "class"], registry=self.registry)
        self.recorder = DriftRecorder(bins, classes, clock=self.clock)

    def observe(self, metadata: ModelMetadata, rows: object, classes: object = None) -> None:
        matrix = np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
        indices = np.zeros(len(matrix), dtype=np.intp) if classes is None else classes
        self.recorder.observe(metadata, matrix, np.asarray(indices, dtype=np.intp))

    def bins(self, version: str, feature: str) -> list[float | None]:
        """The feature's ten bin counts, None for a bin without a series."""
        return [
            self.registry.get_sample_value(
                BIN, {"model_version": version, "feature": feature, "bin": str(b)}
            )
            for b in range(10)
        ]

    def shares(self, version: str, feature: str) -> np.ndarray:
        counts = np.array(self.bins(version, feature), dtype=np.float64)
        shares: np.ndarray = counts / counts.sum()
        return shares

    def classes(self, version: str) -> dict[str, float | None]:
        return {
            name: self.registry.get_sample_value(
                PREDICTED, {"model_version": version, "class": name}
            )
            for name in IRIS_CLASSES
        }


def _psi(shares: np.ndarray) -> float:
    """The recording rule irisq:feature_psi:5m, on one feature's shares."""
    clamped = np.maximum(shares, 0.0005)
    return float(np.sum((clamped - 0.1) * np.log(clamped / 0.1)))


def _one_hot(bin_index: int) -> list[float]:
    return [1.0 if b == bin_index else 0.0 for b in range(10)]


@pytest.mark.parametrize("value", [0.5, 1.5, 4.99, 5.01, 9.5, 80.0])
def test_a_value_between_edges_is_counted_in_its_searchsorted_bin(value: float) -> None:
    """Off the edges, np.searchsorted's two sides agree: the one bin the value is in."""
    edges = UNIT_EDGES["sepal_length"]
    expected = int(np.searchsorted(edges, value, side="right"))
    assert int(np.searchsorted(edges, value, side="left")) == expected
    counted = Counted()
    counted.observe(model_metadata("v1", deciles=UNIT_EDGES), [value, 0.5, 0.5, 0.5])
    counted.recorder.flush()
    assert counted.bins("v1", "sepal_length") == _one_hot(expected)


def test_a_value_on_edges_is_shared_among_the_bins_they_bound() -> None:
    """From np.searchsorted(edges, value, side="left") to side="right", equally."""
    counted = Counted()
    # Petal width's training deciles begin 0.2, 0.2, as iris's do.
    edges = {**UNIT_EDGES, "petal_width": [0.2, 0.2, 0.4, 1.2, 1.3, 1.5, 1.8, 1.9, 2.2]}
    version = model_metadata("v1", deciles=edges)
    counted.observe(version, [[0.5, 0.5, 3.0, 0.2], [0.5, 0.5, 3.0, 0.4]])
    counted.recorder.flush()
    third, half = 1 / 3, 1 / 2
    petal_width = counted.bins("v1", "petal_width")
    assert petal_width == pytest.approx([third, third, third + half, half, 0, 0, 0, 0, 0, 0])
    # petal_length 3.0 sits on the single edge 3.0: half in bin 2, half in bin 3.
    assert counted.bins("v1", "petal_length") == pytest.approx([0, 0, 1, 1, 0, 0, 0, 0, 0, 0])
    assert sum(petal_width) == pytest.approx(2)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.lists(
            st.one_of(
                st.sampled_from(sorted({v for e in IRIS_DECILES.values() for v in e})),
                st.floats(min_value=0.01, max_value=100, allow_nan=False),
            ),
            min_size=4,
            max_size=4,
        ),
        min_size=NUMPY_FROM_ROWS,
        max_size=4 * NUMPY_FROM_ROWS,
    )
)
def test_a_large_task_is_counted_as_its_rows_one_by_one(rows: list[list[float]]) -> None:
    """Numpy's path (from NUMPY_FROM_ROWS rows) and the few-row path count alike."""
    version = model_metadata("v1", deciles=IRIS_DECILES)
    classes = [i % 3 for i in range(len(rows))]
    whole, one_by_one = Counted(), Counted()
    whole.observe(version, rows, classes)
    for row, index in zip(rows, classes, strict=True):
        one_by_one.observe(version, [row], [index])
    whole.recorder.flush()
    one_by_one.recorder.flush()
    for feature in FEATURES:
        assert whole.bins("v1", feature) == pytest.approx(one_by_one.bins("v1", feature))
        assert sum(whole.bins("v1", feature)) == pytest.approx(len(rows))
    assert whole.classes("v1") == one_by_one.classes("v1")


def test_training_rows_fill_every_bin_about_a_tenth() -> None:
    counted = Counted()
    counted.observe(model_metadata("v1", deciles=IRIS_DECILES), IRIS)
    counted.recorder.flush()
    for feature in FEATURES:
        shares = counted.shares("v1", feature)
        assert shares == pytest.approx([0.1] * 10, abs=0.075), feature
        assert _psi(shares) < 0.1, feature


def test_a_shifted_feature_piles_into_the_top_bin() -> None:
    counted = Counted()
    shifted = IRIS.copy()
    shifted[:, FEATURES.index("petal_width")] *= 3
    counted.observe(model_metadata("v1", deciles=IRIS_DECILES), shifted)
    counted.recorder.flush()
    shares = counted.shares("v1", "petal_width")
    # Versicolor and virginica (two thirds of the rows) pass the top decile, 2.2 cm.
    assert shares[9] > 0.6
    assert _psi(shares) > 0.25
    assert _psi(counted.shares("v1", "petal_length")) < 0.1


def test_predicted_classes_are_counted_by_version() -> None:
    counted = Counted()
    counted.observe(model_metadata("v1", deciles=IRIS_DECILES), IRIS[:3], [0, 2, 2])
    counted.observe(model_metadata("v2", deciles=None), IRIS[:20], [1] * 20)
    counted.recorder.flush()
    assert counted.classes("v1") == {"setosa": 1, "versicolor": 0, "virginica": 2}
    assert counted.classes("v2") == {"setosa": 0, "versicolor": 20, "virginica": 0}


def test_every_bin_has_a_series_from_the_first_task() -> None:
    """An empty bin is a share of 0 to the PSI rule, not a bin that is missing."""
    counted = Counted()
    counted.observe(model_metadata("v1", deciles=UNIT_EDGES), [0.5, 0.5, 0.5, 0.5])
    for feature in FEATURES:
        assert counted.bins("v1", feature) == _one_hot(0)


def test_counts_reach_the_counters_at_most_once_a_second() -> None:
    counted = Counted()
    version = model_metadata("v1", deciles=UNIT_EDGES)
    row = [0.5, 0.5, 0.5, 0.5]
    counted.observe(version, row)  # the first flushes at once
    assert counted.bins("v1", "sepal_length")[0] == 1
    counted.clock.now += 0.6
    counted.observe(version, row)
    counted.observe(version, row)
    assert counted.bins("v1", "sepal_length")[0] == 1
    assert counted.classes("v1")["setosa"] == 1
    counted.clock.now += 0.4
    counted.observe(version, row)
    assert counted.bins("v1", "sepal_length")[0] == 4
    assert counted.classes("v1")["setosa"] == 4
    counted.clock.now += 0.1
    counted.observe(version, row)
    assert counted.bins("v1", "sepal_length")[0] == 4
    counted.recorder.flush()
    assert counted.bins("v1", "sepal_length")[0] == 5


def test_a_version_without_deciles_has_its_classes_counted_and_no_bins() -> None:
    counted = Counted()
    counted.observe(model_metadata("old", deciles=None), IRIS[:5], [0, 0, 1, 2, 2])
    counted.recorder.flush()
    assert counted.classes("old") == {"setosa": 2, "versicolor": 1, "virginica": 2}
    assert all(b is None for f in FEATURES for b in counted.bins("old", f))


@pytest.mark.parametrize(
    "deciles",
    [
        {name: e[:8] for name, e in IRIS_DECILES.items()},
        {name: e[::-1] for name, e in IRIS_DECILES.items()},
        {name: e for name, e in IRIS_DECILES.items() if name != "petal_width"},
        {**IRIS_DECILES, "sepal_width": [*IRIS_DECILES["sepal_width"][:8], math.nan]},
    ],
    ids=["eight", "descending", "a-feature-missing", "nan"],
)
def test_unusable_deciles_leave_the_version_unbinned_and_say_so(
    deciles: dict[str, list[float]], caplog: pytest.LogCaptureFixture
) -> None:
    counted = Counted()
    with caplog.at_level(logging.WARNING, logger="irisq.drift"):
        counted.observe(model_metadata("odd", deciles=deciles), IRIS[:2], [0, 1])
    counted.recorder.flush()
    assert "model=odd feature_deciles are not nine ascending deciles" in caplog.text
    assert all(b is None for f in FEATURES for b in counted.bins("odd", f))
    assert counted.classes("odd") == {"setosa": 1, "versicolor": 1, "virginica": 0}


def test_the_task_recorder_counts_into_the_served_registry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """drift.RECORDER writes the worker's own counters; a pool process's exit flushes it."""
    clock = Clock()
    recorder = DriftRecorder(clock=clock)
    monkeypatch.setattr(drift, "RECORDER", recorder)
    version = model_metadata("drift-test-served", deciles=UNIT_EDGES)
    labels = {"model_version": version.version, "feature": "petal_width", "bin": "9"}
    recorder.observe(version, np.array([[0.5, 0.5, 0.5, 20.0]]), np.array([2]))
    assert metrics.REGISTRY.get_sample_value(BIN, labels) == 1
    recorder.observe(version, np.array([[0.5, 0.5, 0.5, 20.0]]), np.array([2]))
    assert metrics.REGISTRY.get_sample_value(BIN, labels) == 1
    worker_process_shutdown.send(sender=None, pid=None, exitcode=0)
    assert metrics.REGISTRY.get_sample_value(BIN, labels) == 2
    served = {"model_version": version.version, "class": "virginica"}
    assert metrics.REGISTRY.get_sample_value(PREDICTED, served) == 2
