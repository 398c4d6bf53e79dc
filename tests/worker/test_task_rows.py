"""The task's reading of its payload: canonical rows, the fast way and the exact way agree."""

from __future__ import annotations

import base64
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.cache_keys import cache_key_prefix, canonical_values, key_suffix
from contract.tasks import TaskJob, pack_rows, row_count, task_job
from worker.tasks import InvalidTaskPayload, _cache_keys
from worker.tasks import _rows as read_rows


def _rows(jobs: list[TaskJob]) -> list[list[float]]:
    """The rows of the matrix the model is given."""
    matrix, counts = read_rows(jobs)
    assert matrix.dtype == np.float64
    assert counts == [row_count(job) for job in jobs]
    rows: list[list[float]] = matrix.tolist()
    return rows


value = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
item = st.lists(value, min_size=4, max_size=4)


@given(st.lists(item, min_size=1, max_size=20))
def test_rows_are_the_canonical_values_of_any_item(items: list[list[float]]) -> None:
    assert _rows([task_job("a", items)]) == [canonical_values(i) for i in items]


@given(st.lists(item, min_size=1, max_size=20))
def test_canonical_items_pass_through_unchanged(items: list[list[float]]) -> None:
    canonical = [canonical_values(i) for i in items]
    assert _rows([task_job("a", canonical)]) == canonical


@given(st.lists(st.lists(item, min_size=0, max_size=5), min_size=1, max_size=5))
def test_the_rows_of_every_job_are_read_in_order_with_their_counts(
    jobs: list[list[list[float]]],
) -> None:
    payload = [task_job(str(i), rows) for i, rows in enumerate(jobs)]
    matrix, counts = read_rows(payload)
    assert counts == [len(rows) for rows in jobs]
    assert matrix.tolist() == [canonical_values(row) for rows in jobs for row in rows]


def test_packed_rows_are_little_endian_doubles_in_feature_order() -> None:
    job = task_job("a", [[5.1, 3.5, 1.4, 0.2]])
    assert base64.b64decode(job["rows"]) == struct.pack("<4d", 5.1, 3.5, 1.4, 0.2)
    assert job["rows"] == pack_rows([(5.1, 3.5, 1.4, 0.2)])


@given(st.lists(item, min_size=1, max_size=5))
def test_a_tensors_matrix_packs_as_its_rows_do(rows: list[list[float]]) -> None:
    """The V2 faces hand the gateway a matrix, `/predict` a list of rows: one packing."""
    assert pack_rows(np.array(rows, dtype=np.float64)) == pack_rows(rows)
    # A column-major or float32 matrix too: the bytes are always little-endian rows.
    assert pack_rows(np.asfortranarray(np.array(rows))) == pack_rows(rows)
    as_float32 = np.array(rows, dtype=np.float32)
    assert pack_rows(as_float32) == pack_rows(as_float32.astype(np.float64).tolist())


def test_a_row_of_the_wrong_width_is_not_packed() -> None:
    with pytest.raises(ValueError, match="4 values"):
        pack_rows([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match="4 values"):
        pack_rows(np.ones((2, 3)))


def _packed(*values: float) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}d", *values)).decode()


@pytest.mark.parametrize(
    "rows",
    [
        _packed(1.0, 2.0, 3.0),  # not a whole row
        _packed(1.0, 2.0, 3.0, 4.0, 1.0, 2.0),
        _packed(1.0, 2.0, 3.0, 4.0)[:-4],  # cut short
        "not base64!",
        _packed(1.0, 2.0, 3.0, float("nan")),
        _packed(1.0, 2.0, 3.0, float("inf")),
        12,
        None,
        [[1.0, 2.0, 3.0, 4.0]],  # the rows as JSON numbers: not this contract's form
    ],
)
def test_malformed_rows_are_refused(rows: Any) -> None:
    with pytest.raises(InvalidTaskPayload):
        read_rows([{"job_id": "a", "rows": rows}])


def test_a_job_without_rows_is_refused() -> None:
    with pytest.raises(InvalidTaskPayload):
        read_rows([{"job_id": "a"}])  # type: ignore[typeddict-item]


@given(st.lists(st.lists(st.floats(-1e12, 1e12), min_size=4, max_size=4), min_size=1, max_size=20))
def test_cache_keys_are_the_contracts_keys_of_the_rows(items: list[list[float]]) -> None:
    # Within FAST_SPELLING_MAX the one-pass spelling, beyond it the exact one: the same keys.
    matrix, _ = read_rows([task_job("a", items)])
    expected = [cache_key_prefix("v") + key_suffix(row) for row in matrix.tolist()]
    assert _cache_keys(matrix, "v") == expected


def test_cache_keys_of_small_and_whole_values() -> None:
    rows = [[0.0001, 100.0, 5.0, 0.0], [-5.1, 1e10, 99.9999, 10.05]]
    matrix = np.asarray(rows)
    assert _cache_keys(matrix, "v") == [
        "irisq:pred:v:0.0001|100|5|0",
        "irisq:pred:v:-5.1|10000000000|99.9999|10.05",
    ]
