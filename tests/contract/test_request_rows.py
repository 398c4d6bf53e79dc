"""`request_rows` reads `POST /predict`'s body with msgspec first and pydantic when msgspec
refuses it: msgspec must never accept what `PredictionRequest` refuses, nor read other rows."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contract import http
from contract.http import FEATURES, PredictionRequest, measurements, request_rows

# Values around every edge the model draws: the bounds, their neighbours, other JSON types.
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e-300, max_value=1e-300),
    st.sampled_from([0, 0.0, -0.0, 1, 5, 100, 100.0, 100.00000000000001, 101, 10**400]),
    st.integers(),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.just("5.1"),
    st.lists(st.floats(0.1, 9), max_size=2),
)
names = st.one_of(st.sampled_from(FEATURES), st.text(max_size=4))
items = st.one_of(
    st.fixed_dictionaries({name: st.floats(0.01, 100) for name in FEATURES}),
    st.fixed_dictionaries({name: values for name in FEATURES}),
    st.dictionaries(names, values, max_size=5),
    values,
)
bodies = st.one_of(
    st.fixed_dictionaries({"items": st.lists(items, max_size=4)}),
    st.dictionaries(st.sampled_from(["items", "item", "extra"]), st.lists(items, max_size=3)),
    st.lists(items, max_size=2),
)


def _json(body: Any) -> bytes:
    # Integers beyond 64 bits and the like: written by the standard library, as a client may.
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body).encode()


@settings(max_examples=600, deadline=None)
@given(bodies)
def test_msgspec_accepts_only_what_pydantic_accepts_with_the_same_rows(body: Any) -> None:
    raw = _json(body)
    try:
        fast = http._decode_fast(raw)
    except msgspec.MsgspecError:
        return
    slow = PredictionRequest.model_validate_json(raw)
    assert list(map(measurements, fast.items)) == list(map(measurements, slow.items))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"items":[{"sepal_length":NaN,"sepal_width":1,"petal_length":1,"petal_width":1}]}',
        b'{"items":[{"sepal_length":Infinity,"sepal_width":1,"petal_length":1,"petal_width":1}]}',
        b'{"items":[{"sepal_length":1e999,"sepal_width":1,"petal_length":1,"petal_width":1}]}',
        b'{"items":[{"sepal_length":true,"sepal_width":1,"petal_length":1,"petal_width":1}]}',
        b'{"items":[{"sepal_length":"5","sepal_width":1,"petal_length":1,"petal_width":1}]}',
        b'{"items":[{"sepal_length":5,"sepal_width":1,"petal_length":1}]}',
        b'{"items":[{"sepal_length":5,"sepal_width":1,"petal_length":1,"petal_width":1,"x":1}]}',
        b'{"items":[]}',
        b'{"items":[],"more":1}',
        b"[]",
        b"not json",
    ],
)
def test_refused_bodies_raise_pydantic_errors_naming_the_field(raw: bytes) -> None:
    with pytest.raises(ValidationError) as refused:
        request_rows(raw)
    with pytest.raises(ValidationError) as expected:
        PredictionRequest.model_validate_json(raw)

    # Compared by place and message: a NaN input equals nothing, not even itself.
    def named(error: ValidationError) -> list[tuple[Any, ...]]:
        return [(e["type"], e["loc"], e["msg"]) for e in error.errors(include_url=False)]

    assert named(refused.value) == named(expected.value)


def test_a_valid_body_takes_the_fast_path_in_feature_order() -> None:
    item = {"petal_width": 0.2, "sepal_width": 3.5, "petal_length": 1.4, "sepal_length": 5.1}
    raw = orjson.dumps({"items": [item, {**item, "sepal_length": 100}]})
    fast = http._decode_fast(raw)  # raises if msgspec refused it: then pydantic pays
    assert list(map(measurements, fast.items)) == request_rows(raw)
    assert request_rows(raw) == [(5.1, 3.5, 1.4, 0.2), (100.0, 3.5, 1.4, 0.2)]
