"""The task's results JSON, filled from a template, is `orjson.dumps` of each result's dict."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from worker.model import FloatArray
from worker.tasks import _ResultsJson

IRIS = ["setosa", "versicolor", "virginica"]


def _result_dicts(classes: list[str], proba: FloatArray, **extra: Any) -> list[bytes]:
    """The straightforward way: one dict per row, one `orjson.dumps` each."""
    return [
        orjson.dumps(
            {
                "prediction": classes[int(row.argmax())],
                "class_index": int(row.argmax()),
                "probabilities": dict(zip(classes, row.tolist(), strict=True)),
                **extra,
            }
        )
        for row in proba
    ]


def _exact(value: Any) -> Any:
    """A parsed JSON value, compared with its key order, its number types and every float's
    exact bits (`==` alone takes 0 for 0.0 and ignores key order)."""
    if isinstance(value, dict):
        return [(key, _exact(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_exact(item) for item in value]
    if isinstance(value, float):
        return ("float", value.hex())
    return (type(value).__name__, value)


def _same_json(got: bytes, expected: bytes) -> None:
    assert _exact(orjson.loads(got)) == _exact(orjson.loads(expected))


def _assert_results(classes: list[str], proba: FloatArray, cuts: list[int]) -> None:
    """The rows between consecutive cuts, each alone (cache entries) and as one list (a job's
    results, each item marked not cached), as dumped one by one; and their class counts."""
    expected = _result_dicts(classes, proba)
    listed = _result_dicts(classes, proba, cached=False)
    results = _ResultsJson(classes, proba)
    for start, end in itertools.pairwise(cuts):
        each = results.each(start, end)
        assert len(each) == end - start
        for text, dumped in zip(each, expected[start:end], strict=True):
            _same_json(text, dumped)
        _same_json(results.json_list(start, end), b"[" + b",".join(listed[start:end]) + b"]")
        predicted = Counter(orjson.loads(text)["prediction"] for text in each)
        assert orjson.loads(results.counts(start, end)) == dict(predicted)


SPECIAL = [0.0, 1.0, 1e-05, 1e-07, 5e-324, 0.1, 1 / 3, 0.30000000000000004, 0.12345678901234568]
probability = st.one_of(
    st.sampled_from(SPECIAL),
    st.integers(0, 100).map(lambda k: k / 100),
    st.floats(0.0, 1.0),
)
# Names with JSON escapes, template conversions and non-ASCII text.
class_name = st.one_of(
    st.sampled_from(['a,{"prediction":', 'b"}', "ç,{\\", "100%", "%s%d", "\n\t\x00"]), st.text()
)


@st.composite
def tasks(draw: st.DrawFn) -> tuple[list[str], FloatArray, list[int]]:
    classes = draw(
        st.one_of(st.just(IRIS), st.lists(class_name, min_size=1, max_size=5, unique=True))
    )
    rows = draw(st.integers(0, 30))
    values = draw(st.lists(probability, min_size=rows * len(classes), max_size=rows * len(classes)))
    proba = np.asarray(values, dtype=np.float64).reshape(rows, len(classes))
    inner = draw(st.lists(st.integers(0, rows), max_size=4))
    return classes, proba, sorted([0, rows, *inner])


@given(tasks())
@example(
    (IRIS, np.asarray([[1e-05, 0.12345678901234568, 1 - 1e-05 - 0.12345678901234568]]), [0, 1])
)
@example((IRIS, np.asarray([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), [0, 0, 2]))
def test_results_are_the_json_of_each_result_dict(
    task: tuple[list[str], FloatArray, list[int]],
) -> None:
    classes, proba, cuts = task
    _assert_results(classes, proba, cuts)


@pytest.mark.parametrize("kind", ["forest", "arbitrary"])
def test_large_tasks_give_the_json_of_each_result_dict(kind: str) -> None:
    rng = np.random.default_rng(3)
    if kind == "forest":
        # A 100-tree forest of pure leaves: every probability is k/100.
        proba = rng.multinomial(100, [1 / 3] * 3, size=3000) / 100
    else:
        proba = rng.dirichlet([1, 1, 1], size=3000)
    proba[:3] = [[1.0, 0.0, 0.0], [1e-05, 1 - 2e-05, 1e-05], [1 / 3, 1 / 3, 1 / 3]]
    _assert_results(IRIS, proba, [0, 10, 110, 1110, 3000])


def test_a_matrix_in_any_memory_order_gives_the_same_results() -> None:
    proba = np.random.default_rng(4).dirichlet([1, 1, 1], size=50)
    expected = _ResultsJson(IRIS, proba).json_list(0, 50)
    assert _ResultsJson(IRIS, np.asfortranarray(proba)).json_list(0, 50) == expected
    wide = np.concatenate([proba, proba], axis=1)
    assert _ResultsJson(IRIS, wide[:, :3]).json_list(0, 50) == expected


def test_no_rows_are_an_empty_list() -> None:
    results = _ResultsJson(IRIS, np.empty((0, 3)))
    assert results.json_list(0, 0) == b"[]"
    assert results.each(0, 0) == []
