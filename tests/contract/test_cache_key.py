from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.cache_keys import (
    CANONICAL_DECIMALS,
    cache_key,
    cache_key_prefix,
    canonical_rows,
    canonical_values,
    key_suffix,
    key_suffixes,
)

# What a request may carry: (0, 100].
request_value = st.floats(min_value=0, max_value=100, exclude_min=True)
measurement = st.floats(min_value=0.0001, max_value=100, allow_nan=False, allow_infinity=False)


def test_equal_values_written_differently_share_a_key() -> None:
    assert cache_key([5.1, 3.5, 1.4, 0.2], "v1") == cache_key([5.10, 3.500, 1.4000, 0.2], "v1")
    assert cache_key([5.1, 3.5, 1.4, 0.2], "v1") == cache_key([5.100004, 3.5, 1.4, 0.2], "v1")
    assert cache_key([5, 3, 1, 2], "v1") == cache_key([5.0, 3.0, 1.0, 2.0], "v1")


def test_key_format_is_documented_shape() -> None:
    assert cache_key([5.1, 3.5, 1.4, 0.2], "rf-abc") == "irisq:pred:rf-abc:5.1|3.5|1.4|0.2"


def test_different_values_get_different_keys() -> None:
    assert cache_key([5.1, 3.5, 1.4, 0.2], "v1") != cache_key([5.2, 3.5, 1.4, 0.2], "v1")
    assert cache_key([5.1, 3.5, 1.4, 0.2], "v1") != cache_key([5.1, 3.5, 0.2, 1.4], "v1")


def test_model_version_is_part_of_the_key() -> None:
    assert cache_key([5.1, 3.5, 1.4, 0.2], "v1") != cache_key([5.1, 3.5, 1.4, 0.2], "v2")


@given(st.floats(min_value=1e-9, max_value=100))
def test_key_values_are_the_rounded_decimals_without_trailing_zeros(value: float) -> None:
    expected = f"{round(value, CANONICAL_DECIMALS):.{CANONICAL_DECIMALS}f}".rstrip("0").rstrip(".")
    assert cache_key([value] * 4, "v") == "irisq:pred:v:" + "|".join([expected] * 4)


@given(st.lists(measurement, min_size=4, max_size=4))
def test_key_of_canonical_values_is_the_key_of_the_values(values: list[float]) -> None:
    # The worker predicts on canonical values and caches under this key: they must agree.
    assert cache_key(canonical_values(values), "v") == cache_key(values, "v")
    assert cache_key_prefix("v") + key_suffix(canonical_values(values)) == cache_key(values, "v")


@given(st.lists(measurement, min_size=4, max_size=4), st.lists(measurement, min_size=4, max_size=4))
def test_keys_are_equal_exactly_when_rounded_values_are(a: list[float], b: list[float]) -> None:
    same = [round(x, CANONICAL_DECIMALS) for x in a] == [round(x, CANONICAL_DECIMALS) for x in b]
    assert (cache_key(a, "v") == cache_key(b, "v")) == same


@pytest.mark.parametrize(
    ("row", "suffix"),
    [
        ([100, 0.00005, 0.00004, 10.00005], "100|0.0001|0|10"),
        ([50.0, 0.5, 20.05, 0.0001], "50|0.5|20.05|0.0001"),
        ([99.99995, 1, 2, 3], "99.9999|1|2|3"),
    ],
)
def test_key_suffix_at_the_edges(row: list[float], suffix: str) -> None:
    assert key_suffix(canonical_values(row)) == suffix


@given(st.lists(st.lists(request_value, min_size=4, max_size=4), max_size=30))
def test_canonical_rows_are_the_exact_values_and_keys(rows: list[list[float]]) -> None:
    # The one-pass rounding and key text must be the exact ones, or the cache would miss
    # what the worker stored (or return another item's answer).
    values, suffixes = canonical_rows(rows)
    assert values == [canonical_values(row) for row in rows]
    assert suffixes == [key_suffix(canonical_values(row)) for row in rows]
    assert key_suffixes(values) == suffixes


@pytest.mark.parametrize(
    "row", [[100, 0.00005, 0.00004, 10.00005], [50.0, 0.5, 20.05, 0.0001], [99.99995, 1, 2, 3]]
)
def test_canonical_rows_at_the_edges(row: list[float]) -> None:
    values, suffixes = canonical_rows([row])
    assert values == [canonical_values(row)]
    assert cache_key_prefix("v") + suffixes[0] == cache_key(row, "v")
