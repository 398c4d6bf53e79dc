"""Input drift and class mix: a process's inputs counted by the decile bins of their model.

Each model version carries the nine inner deciles of every feature over its training rows
(ModelMetadata.feature_deciles). They cut the feature's range into ten bins, each holding a
tenth of the training rows; `irisq_worker_feature_bin_total{model_version, feature, bin}`
counts the inputs in each, and `irisq_worker_predictions_total{model_version, class}` the
predicted classes. A version without deciles has its classes counted, not its inputs binned.

Counters by bin, not a histogram: a Prometheus histogram has one set of bucket bounds per
metric, fixed in the code, while every version brings its own edges. Counting by decile bin
is the histogram over each version's own training quantiles, with the bounds left out of the
labels (they are the same tenths for every version). Inputs like the training rows fall about
10 % in each bin; the population stability index (PSI) compares the shares with those tenths.
Prometheus computes it from the counts of every worker (monitoring/prometheus/alerts.yml,
`irisq:feature_psi:5m`), which no single process could.

Bins and their edges: a value strictly between two edges is in the bin np.searchsorted gives
(either side: they agree there). A value equal to one or more edges is shared equally among
the bins from np.searchsorted(edges, value, side="left") to side="right". Iris is measured to
0.1 cm, so training rows share values and deciles land on them (petal width's two lowest are
both 0.2, the value of a fifth of the rows): counted wholly on one side, petal width's own
training rows score a PSI of about 0.75, three times the alert's threshold; shared, 0.07.

On the hot path (a task may hold one row), counts go into this process's own lists; they
reach the counters at most once a second, one `inc` per non-empty cell, and when the pool
process exits. Counts made within a second of the last flush wait for the next task.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from celery.signals import worker_process_shutdown
from prometheus_client import Counter

from contract.http import FEATURES
from contract.model import ModelMetadata
from worker import metrics

log = logging.getLogger("irisq.drift")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

BINS = 10
FLUSH_INTERVAL_SECONDS = 1.0
# A value on k equal edges is shared by k + 1 bins (k <= 9): counted in 2520ths of an input
# (the least common multiple of 1 to 10), every share is a whole number.
UNITS_PER_INPUT = 2520
# Python's bisect costs ~1.5 µs a row, numpy ~25 µs a task whatever its rows: numpy from here.
NUMPY_FROM_ROWS = 16

# Each (row, feature)'s first bin in the flat (feature, bin) grid with one spare bin per
# feature: the numpy path marks where a value's share ends one past its last bin.
_SPARE_GRID_OFFSETS = np.arange(len(FEATURES)) * (BINS + 1)


@dataclass
class _VersionCounts:
    """One version's counts not yet in the counters, and the counters they go to."""

    # Per feature, its nine edges; None for a version whose inputs are not binned.
    edges: list[list[float]] | None
    edge_array: FloatArray | None
    # (feature, bin) cells, feature by feature, in UNITS_PER_INPUT per input.
    bins: list[int]
    bin_counters: list[Counter]
    classes: list[int]
    class_counters: list[Counter]


class DriftRecorder:
    """Counts one process's inputs by decile bin and its predictions by class, per version."""

    def __init__(
        self,
        feature_bins: Counter = metrics.FEATURE_BINS,
        predictions: Counter = metrics.PREDICTIONS,
        *,
        interval: float = FLUSH_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._feature_bins = feature_bins
        self._predictions = predictions
        self._interval = interval
        self._clock = clock
        self._versions: dict[str, _VersionCounts] = {}
        # Celery's prefork children run one task at a time; a threads pool would not.
        self._lock = threading.Lock()
        # The first observation flushes at once: sparse traffic shows without delay.
        self._flushed_at = -math.inf

    def observe(self, metadata: ModelMetadata, matrix: FloatArray, class_indices: IntArray) -> None:
        """Count a task's rows (n x 4, FEATURES order) and their predicted class indices."""
        with self._lock:
            counts = self._versions.get(metadata.version)
            if counts is None:
                counts = self._versions[metadata.version] = self._track(metadata)
            if len(matrix) < NUMPY_FROM_ROWS:
                if counts.edges is not None:
                    _bin_rows(counts.edges, matrix.tolist(), counts.bins)
                classes = counts.classes
                for index in class_indices.tolist():
                    classes[index] += 1
            else:
                if counts.edge_array is not None:
                    _add(counts.bins, _bin_matrix(counts.edge_array, matrix))
                _add(counts.classes, np.bincount(class_indices, minlength=len(counts.classes)))
            now = self._clock()
            if now - self._flushed_at >= self._interval:
                self._flush(now)

    def flush(self) -> None:
        """Move every count made so far into the counters."""
        with self._lock:
            self._flush(self._clock())

    def _flush(self, now: float) -> None:
        self._flushed_at = now
        for counts in self._versions.values():
            _move(counts.bins, counts.bin_counters, UNITS_PER_INPUT)
            _move(counts.classes, counts.class_counters, 1)

    def _track(self, metadata: ModelMetadata) -> _VersionCounts:
        """A version's counts, its series all made at 0.

        Every bin has a series from the version's first task: a bin no input reached counts
        as a share of 0 in the PSI, not as a bin that is not there.
        """
        version = metadata.version
        edge_array = _edges(metadata)
        bin_counters = []
        if edge_array is not None:
            bin_counters = [
                self._feature_bins.labels(version, feature, str(b))
                for feature in FEATURES
                for b in range(BINS)
            ]
        class_counters = [self._predictions.labels(version, name) for name in metadata.classes]
        return _VersionCounts(
            edges=None if edge_array is None else edge_array.tolist(),
            edge_array=edge_array,
            bins=[0] * len(bin_counters),
            bin_counters=bin_counters,
            classes=[0] * len(class_counters),
            class_counters=class_counters,
        )


def _edges(metadata: ModelMetadata) -> FloatArray | None:
    """The version's deciles as a (feature, 9) array; None when it has no usable ones."""
    deciles = metadata.feature_deciles
    if deciles is None:
        return None
    try:
        edges = np.array([deciles[name] for name in FEATURES], dtype=np.float64)
    except (KeyError, ValueError):
        edges = None
    if (
        edges is None
        or edges.shape != (len(FEATURES), BINS - 1)
        or not np.isfinite(edges).all()
        or (np.diff(edges, axis=1) < 0).any()
    ):
        # Predictions go on; only this version's drift goes unseen, which the log says.
        log.warning(
            "model=%s feature_deciles are not nine ascending deciles of each of %s: "
            "its inputs are not binned",
            metadata.version,
            ", ".join(FEATURES),
        )
        return None
    return edges


def _bin_rows(edges: list[list[float]], rows: list[list[float]], bins: list[int]) -> None:
    """Add the rows' units to `bins`, one value at a time (the few-row path)."""
    for row in rows:
        first = 0
        for value, cuts in zip(row, edges, strict=True):
            low = bisect_left(cuts, value)
            high = bisect_right(cuts, value)
            if low == high:
                bins[first + low] += UNITS_PER_INPUT
            else:
                share = UNITS_PER_INPUT // (high - low + 1)
                for cell in range(first + low, first + high + 1):
                    bins[cell] += share
            first += BINS


def _bin_matrix(edges: FloatArray, matrix: FloatArray) -> IntArray:
    """The rows' units per (feature, bin) cell, as `_bin_rows` counts them, with numpy."""
    low = np.empty(matrix.shape, dtype=np.intp)
    high = np.empty(matrix.shape, dtype=np.intp)
    for feature, cuts in enumerate(edges):
        low[:, feature] = np.searchsorted(cuts, matrix[:, feature], side="left")
        high[:, feature] = np.searchsorted(cuts, matrix[:, feature], side="right")
    units = (UNITS_PER_INPUT // (high - low + 1)).ravel()
    # Each value adds its share to bins low..high: +share at low and -share one past high,
    # summed along each feature's bins. The sums are whole numbers far below 2**53: exact.
    cells = len(FEATURES) * (BINS + 1)
    starts = np.bincount((low + _SPARE_GRID_OFFSETS).ravel(), weights=units, minlength=cells)
    ends = np.bincount((high + 1 + _SPARE_GRID_OFFSETS).ravel(), weights=units, minlength=cells)
    spread = (starts - ends).reshape(len(FEATURES), BINS + 1).cumsum(axis=1)
    grid: IntArray = spread[:, :BINS].ravel().astype(np.intp)
    return grid


def _add(pending: list[int], amounts: IntArray) -> None:
    for cell, amount in enumerate(amounts.tolist()):
        pending[cell] += amount


def _move(pending: list[int], counters: list[Counter], per_count: int) -> None:
    """Each non-empty cell into its counter, with one `inc`; the cell back to 0."""
    for cell, amount in enumerate(pending):
        if amount:
            counters[cell].inc(amount / per_count)
            pending[cell] = 0


# This process's recorder, which the task observes into. Made in Celery's main process before
# the pool forks, where it never counts: every pool process starts with it empty.
RECORDER = DriftRecorder()


def _flush_before_exit(**_: Any) -> None:
    RECORDER.flush()


# Celery keeps weak references: a module-level function lives as long as the module.
worker_process_shutdown.connect(_flush_before_exit)
