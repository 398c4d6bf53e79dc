"""The bulk rounding gives exactly the contract's canonical values, half-way points included."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from contract.cache_keys import canonical_values
from worker.rows import canonical_matrix


def _same(values: list[float]) -> None:
    got = canonical_matrix(np.asarray(values, dtype=np.float64).reshape(-1, 1))
    expected = canonical_values(values)
    # Equal as doubles and as their spelling (a cache key is spelled from it).
    assert [repr(v) for v in got.ravel().tolist()] == [repr(v) for v in expected]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=50))
@example([0.00005, 0.00015, 0.00025, 1.00005, 2.67215, 5.12345, 99.99995, 2.5e-05, 7.5e-05])
@example([1e16, -1e16, 4.5e11, 1.7976931348623157e308, 5e-324, -0.0, 0.0, -0.00004])
def test_any_finite_value_rounds_as_round_does(values: list[float]) -> None:
    _same(values)


@given(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=-3, max_value=3),
)
def test_values_next_to_half_way_points_round_as_round_does(units: int, ulps: int) -> None:
    # The doubles closest to k + 0.5 ten-thousandths, where numpy's product can round the
    # other way.
    value = (units + 0.5) / 10**4
    for _ in range(abs(ulps)):
        value = math.nextafter(value, math.inf if ulps > 0 else -math.inf)
    _same([value])


@given(st.integers(min_value=1, max_value=10**6))
def test_canonical_values_are_left_as_they_are(units: int) -> None:
    value = units / 10**4
    assert canonical_matrix(np.array([[value]]))[0, 0] == value
