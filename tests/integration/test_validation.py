"""Bad input gets a 4xx problem document naming the field, never a 500."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.http import FEATURES
from tests.support.items import SETOSA

bad_value = st.one_of(
    st.floats(max_value=0),
    st.floats(min_value=100, exclude_min=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308]),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n_items=st.integers(min_value=1, max_value=5),
    position=st.data(),
    field=st.sampled_from(FEATURES),
    value=bad_value,
)
def test_any_bad_value_is_422_naming_the_field(
    client: httpx.Client, n_items: int, position: st.DataObject, field: str, value: Any
) -> None:
    index = position.draw(st.integers(min_value=0, max_value=n_items - 1))
    items: list[dict[str, Any]] = [dict(SETOSA) for _ in range(n_items)]
    items[index][field] = value
    # JSON has no NaN/Infinity: json.dumps writes the non-standard tokens a client might send.
    content = json.dumps({"items": items}, allow_nan=True).encode()
    response = client.post(
        "/predict", content=content, headers={"content-type": "application/json"}
    )
    body = _problem(response, 422)
    assert f"items[{index}].{field}" in {e["field"] for e in body["errors"]}


def test_missing_and_unknown_fields_are_named(client: httpx.Client) -> None:
    item = {k: v for k, v in SETOSA.items() if k != "petal_width"} | {"colour": "blue"}
    body = _problem(client.post("/predict", json={"items": [SETOSA, item]}), 422)
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"items[1].petal_width", "items[1].colour"}


def test_empty_and_malformed_bodies_are_4xx(client: httpx.Client) -> None:
    assert (
        _problem(client.post("/predict", json={"items": []}), 422)["errors"][0]["field"] == "items"
    )
    assert _problem(client.post("/predict", json={}), 422)["errors"][0]["field"] == "items"
    body = _problem(
        client.post("/predict", content=b"{not json", headers={"content-type": "application/json"}),
        422,
    )
    assert body["errors"][0]["field"] == "body"
    _problem(client.post("/predict", json=[1, 2]), 422)


def test_too_many_items_is_413(client: httpx.Client) -> None:
    body = _problem(client.post("/predict", json={"items": [SETOSA] * 1001}), 413)
    assert "1001" in body["detail"]


def test_oversized_body_is_413_before_parsing(client: httpx.Client) -> None:
    huge = b'{"items": [' + b" " * (2 * 1024 * 1024) + b"]}"
    _problem(
        client.post("/predict", content=huge, headers={"content-type": "application/json"}), 413
    )


def test_wait_out_of_range_is_422(client: httpx.Client) -> None:
    body = _problem(client.post("/predict?wait=61", json={"items": [SETOSA]}), 422)
    assert body["errors"][0]["field"] == "wait"


def test_a_body_that_is_not_json_is_415_naming_the_body(client: httpx.Client) -> None:
    # The route reads its own body (gateway/fenced_internals.py): a body of another media type
    # is 415, the HTTP convention, and the problem names the field.
    form = client.post("/predict", content=b"items=1", headers={"content-type": "text/plain"})
    assert _problem(form, 415)["errors"] == [
        {"field": "body", "message": "Content-Type must be application/json"}
    ]
    vendor = client.post(
        "/predict",
        content=json.dumps({"items": [SETOSA]}).encode(),
        headers={"content-type": "application/vnd.irisq+json; charset=utf-8"},
    )
    assert vendor.status_code == 200, vendor.text


def test_the_request_body_is_documented(client: httpx.Client) -> None:
    body = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert body["required"] is True
    item = schema["properties"]["items"]["items"]
    assert set(item["properties"]) == set(FEATURES)
    assert "$ref" not in json.dumps(schema)
