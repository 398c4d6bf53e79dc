"""The task's reading of its payload: canonical rows, the fast way and the exact way agree."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.cache_keys import cache_key_prefix, canonical_values, key_suffix
from worker.tasks import InvalidTaskPayload, _cache_keys
from worker.tasks import _rows as read_rows


def _rows(jobs: list[dict[str, Any]]) -> list[list[float]]:
    """The rows of the matrix the model is given."""
    matrix = read_rows(jobs)
    assert matrix.dtype == np.float64
    rows: list[list[float]] = matrix.tolist()
    return rows


value = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
item = st.lists(value, min_size=4, max_size=4)


@given(st.lists(item, min_size=1, max_size=20))
def test_rows_are_the_canonical_values_of_any_item(items: list[list[float]]) -> None:
    assert _rows([{"job_id": "a", "items": items}]) == [canonical_values(i) for i in items]


@given(st.lists(item, min_size=1, max_size=20))
def test_canonical_items_pass_through_unchanged(items: list[list[float]]) -> None:
    canonical = [canonical_values(i) for i in items]
    assert _rows([{"job_id": "a", "items": canonical}]) == canonical


def test_items_of_every_job_are_read_in_order() -> None:
    jobs = [
        {"job_id": "a", "items": [[1, 2, 3, 4]]},
        {"job_id": "b", "items": [[5.00001, 6, 7, 8]]},
    ]
    assert _rows(jobs) == [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]


@pytest.mark.parametrize(
    "items",
    [
        [[1.0, 2.0, 3.0]],
        [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]],
        [["1", "2", "3", "4"]],
        [[1.0, 2.0, 3.0, None]],
        [[1.0, 2.0, 3.0, float("nan")]],
        [[1.0, 2.0, 3.0, float("inf")]],
        [{"sepal_length": 1}],
    ],
)
def test_malformed_items_are_refused(items: list[Any]) -> None:
    with pytest.raises(InvalidTaskPayload):
        _rows([{"job_id": "a", "items": items}])


def test_a_job_without_items_is_refused() -> None:
    with pytest.raises(InvalidTaskPayload):
        _rows([{"job_id": "a"}])  # type: ignore[typeddict-item]


@given(st.lists(st.lists(st.floats(-1e12, 1e12), min_size=4, max_size=4), min_size=1, max_size=20))
def test_cache_keys_are_the_contracts_keys_of_the_rows(items: list[list[float]]) -> None:
    # Within FAST_SPELLING_MAX the one-pass spelling, beyond it the exact one: the same keys.
    matrix = read_rows([{"job_id": "a", "items": items}])
    expected = [cache_key_prefix("v") + key_suffix(row) for row in matrix.tolist()]
    assert _cache_keys(matrix, "v") == expected


def test_cache_keys_of_small_and_whole_values() -> None:
    rows = [[0.0001, 100.0, 5.0, 0.0], [-5.1, 1e10, 99.9999, 10.05]]
    matrix = np.asarray(rows)
    assert _cache_keys(matrix, "v") == [
        "irisq:pred:v:0.0001|100|5|0",
        "irisq:pred:v:-5.1|10000000000|99.9999|10.05",
    ]
