"""The worker's fenced library internal (worker/library_internals.py) still holds.

These fail when scikit-learn changes underneath TreeSum: a new version must be checked (and
added to SKLEARN_CHECKED) before the tree sum is used with it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris

from worker import library_internals
from worker.library_internals import SKLEARN_CHECKED, TreeSum, sklearn_checked, tree_sum
from worker.model import MODEL_FILE, load_model


def test_the_installed_scikit_learn_is_one_the_tree_sum_was_checked_against() -> None:
    assert sklearn_checked(), (
        f"scikit-learn {sklearn.__version__} is not in SKLEARN_CHECKED {SKLEARN_CHECKED}: "
        "check TreeSum against it (the tests below) and add it"
    )
    assert not sklearn_checked("0.24.2")


def test_the_tree_sum_gives_scikit_learns_probabilities(model_dir: Path) -> None:
    forest = joblib.load(model_dir / MODEL_FILE)
    fast = TreeSum(forest)
    rng = np.random.default_rng(7)
    for rows in (load_iris().data, rng.uniform(0.0001, 100, size=(10_000, 4))):
        np.testing.assert_allclose(
            fast.predict_proba(rows), forest.predict_proba(rows), atol=1e-9, rtol=0
        )


def test_an_unchecked_scikit_learn_gets_its_own_predict_proba_and_a_warning(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(library_internals, "SKLEARN_CHECKED", ("0.0",))
    with caplog.at_level(logging.WARNING, logger="irisq.model"):
        model = load_model(model_dir)
    assert model.trees is None
    assert "slower predict_proba" in caplog.text
    rows = np.random.default_rng(9).uniform(0.1, 8, size=(200, 4))
    np.testing.assert_allclose(
        model.predict_proba(rows), model.forest.predict_proba(rows), atol=1e-9, rtol=0
    )
    assert tree_sum(model.forest) is None
