"""Hostile request bodies: a 4xx problem each, memory bounded, the service keeps answering."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from scripts.stack import LocalStack
from tests.security.rawhttp import chunked, headers_only, longer_than_declared
from tests.support.items import SETOSA
from tests.support.metrics import metric
from tests.support.problems import assert_safe_problem
from tests.support.processes import rss_kib
from tests.support.redis_monitor import redis_commands

MAX_BODY_BYTES = 512 * 1024  # the gateway's default
MAX_ITEMS = 1000
TEN_MB = 10 * 1024 * 1024
ITEM = json.dumps(SETOSA)
# The keys a /predict request reads or writes: cached results and its job record.
REQUEST_KEYS = re.compile(r'"irisq:(pred|job):')


def _items(*values: str) -> bytes:
    """A request whose first item has the given raw JSON values (others are sound)."""
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    fields = ",".join(
        f'"{n}":{v}' for n, v in zip(names, [*values, "1", "1", "1", "1"], strict=False)
    )
    return f'{{"items":[{{{fields}}},{ITEM}]}}'.encode()


def _many(n: int) -> bytes:
    return ('{"items":[' + ",".join([ITEM] * n) + "]}").encode()


HOSTILE: dict[str, tuple[bytes, str, int]] = {
    # name: (body, content type, expected status)
    "not json": (b"this is not json", "application/json", 422),
    "truncated json": (b'{"items":[{"sepal_length":5.1', "application/json", 422),
    "empty body": (b"", "application/json", 422),
    # What the JSON parser itself refuses is a 422 naming the body, like any malformed JSON.
    "invalid utf-8": (b'{"items":[{"sepal_length":"\xff\xfe"}]}', "application/json", 422),
    # A body of another media type is 415, the HTTP convention.
    "json as text/plain": (_items("5.1", "3.5", "1.4", "0.2"), "text/plain", 415),
    "form encoded": (b"items=1&items=2", "application/x-www-form-urlencoded", 415),
    "deeply nested arrays": (b"[" * 100_000 + b"]" * 100_000, "application/json", 422),
    "deeply nested objects": (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json", 422),
    "deeply nested item": (
        b'{"items":[{"sepal_length":' + b"[" * 60_000 + b"]" * 60_000 + b"}]}",
        "application/json",
        422,
    ),
    "NaN": (_items("NaN"), "application/json", 422),
    "Infinity": (_items("1", "Infinity"), "application/json", 422),
    "-Infinity": (_items("1", "1", "-Infinity"), "application/json", 422),
    "1e308": (_items("1e308"), "application/json", 422),
    "1e309 (inf when parsed)": (_items("1e309"), "application/json", 422),
    "5000-digit integer": (_items("1" + "0" * 5000), "application/json", 422),
    "strings": (_items('"5.1"'), "application/json", 422),
    "nulls": (_items("null", "null", "null", "null"), "application/json", 422),
    "booleans": (_items("true"), "application/json", 422),
    "negative": (_items("-5.1"), "application/json", 422),
    "zero": (_items("0"), "application/json", 422),
    "above 100 cm": (_items("100.0001"), "application/json", 422),
    "objects as values": (_items('{"$gt":0}'), "application/json", 422),
    "extra field in item": (
        b'{"items":[{"sepal_length":1,"sepal_width":1,"petal_length":1,"petal_width":1,'
        b'"admin":true}]}',
        "application/json",
        422,
    ),
    "extra top-level field": (
        b'{"items":[' + ITEM.encode() + b'],"debug":true}',
        "application/json",
        422,
    ),
    "missing fields": (b'{"items":[{"sepal_length":1}]}', "application/json", 422),
    "no items": (b'{"items":[]}', "application/json", 422),
    "items not a list": (b'{"items":{"0":1}}', "application/json", 422),
    "body is a list": (b"[" + ITEM.encode() + b"]", "application/json", 422),
    "body is a number": (b"42", "application/json", 422),
    "body is a string": (b'"items"', "application/json", 422),
    "duplicate keys": (
        b'{"items":[{"sepal_length":1,"sepal_length":-1,"sepal_width":1,'
        b'"petal_length":1,"petal_width":1}]}',
        "application/json",
        422,
    ),
    f"{MAX_ITEMS + 1} items": (_many(MAX_ITEMS + 1), "application/json", 413),
    "100,000 items": (_many(100_000), "application/json", 413),
    "10 MB of whitespace": (b"{" + b" " * TEN_MB + b"}", "application/json", 413),
}

HOSTILE_QUERIES = [
    "wait=-1",
    "wait=61",
    "wait=1e308",
    "wait=NaN",
    "wait=Infinity",
    "wait=abc",
    "mode=eager",
    "mode=" + "a" * 5000,
]


@pytest.fixture(scope="module")
def gateway_pid(running_stack: LocalStack) -> int:
    return next(s for s in running_stack.services if s.name == "gateway").pid


@pytest.fixture
def http(client: httpx.Client) -> Iterator[httpx.Client]:
    yield client
    # After every hostile request the service still answers a sound one.
    assert client.post("/predict", json={"items": [SETOSA]}).status_code == 200


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_body_gets_a_4xx_problem(http: httpx.Client, name: str) -> None:
    body, content_type, status = HOSTILE[name]
    response = http.post("/predict", content=body, headers={"Content-Type": content_type})
    assert_safe_problem(response, status)
    if status == 422 and name not in ("empty body",):
        assert response.json()["errors"], response.text


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_query_gets_a_422_problem(http: httpx.Client, query: str) -> None:
    response = http.post(f"/predict?{query}", json={"items": [SETOSA]})
    assert_safe_problem(response, 422)


def test_oversized_body_is_refused_from_its_headers_alone(running_stack: LocalStack) -> None:
    # 10 MB announced, not one byte sent: the 413 can only come from the Content-Length.
    status, body = headers_only(running_stack.api_port, "/predict", TEN_MB)
    assert status == 413
    assert b"larger than" in body


def test_oversized_chunked_body_is_cut_off_near_the_limit(running_stack: LocalStack) -> None:
    # No length up front: the gateway counts while reading and stops at MAX_BODY_BYTES.
    status, body, sent = chunked(running_stack.api_port, "/predict", _many(100_000))
    assert status == 413, body
    assert len(_many(100_000)) > 10 * MAX_BODY_BYTES
    print(f"\nchunked 100,000 items: 413 after {sent} of {len(_many(100_000))} bytes sent")
    assert sent < 3 * MAX_BODY_BYTES, f"the gateway read {sent} bytes before refusing"


def test_bytes_past_the_content_length_are_not_the_body(running_stack: LocalStack) -> None:
    # The size limit counts nothing when a Content-Length within it is declared: the server
    # hands the app only the declared bytes. What follows them is the next request, here one
    # that announces 10 MB and is refused from its headers.
    body = json.dumps({"items": [SETOSA]}).encode()
    extra = (
        "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {TEN_MB}\r\n\r\n"
    ).encode() + b"x" * (2 * MAX_BODY_BYTES)
    answers = longer_than_declared(running_stack.api_port, "/predict", body, extra)
    assert [status for status, _ in answers] == [200, 413], answers
    assert json.loads(answers[0][1])["items"][0]["prediction"] == "setosa"


def looked_up(http: httpx.Client) -> float:
    """Items the gateway has looked up in the cache, found or not."""
    return metric(http, "irisq_cache_hits_total") + metric(http, "irisq_cache_misses_total")


def test_a_large_item_count_is_refused_before_any_redis_work(
    running_stack: LocalStack, client: httpx.Client
) -> None:
    before = looked_up(client)
    with redis_commands(running_stack.redis_port, running_stack.workdir) as seen:
        response = client.post(
            "/predict", content=_many(MAX_ITEMS + 1), headers={"Content-Type": "application/json"}
        )
    assert_safe_problem(response, 413)
    assert response.json()["errors"] == [
        {"field": "items", "message": f"at most {MAX_ITEMS} items"}
    ]
    assert looked_up(client) == before
    # A request's Redis work names a cache key (the lookup) or its job's key (the record);
    # what runs meanwhile in the background (the model refresh, the workers' polling and
    # events) names neither.
    request_work = [line for line in seen if REQUEST_KEYS.search(line)]
    assert not request_work, request_work[:3]


def test_many_bad_items_get_a_bounded_error_list(client: httpx.Client) -> None:
    # ~5,000 items with four bad values each fit under MAX_BODY_BYTES: 20,000 errors.
    bad = '{"sepal_length":-1,"sepal_width":-1,"petal_length":-1,"petal_width":-1}'
    body = ('{"items":[' + ",".join([bad] * 5000) + "]}").encode()
    assert len(body) < MAX_BODY_BYTES
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert_safe_problem(response, 422)
    assert len(response.content) < 64 * 1024, f"a {len(response.content)}-byte error body"
    problem = response.json()
    assert len(problem["errors"]) == 100
    assert "20000 errors" in problem["detail"]


@pytest.mark.slow
def test_memory_stays_bounded_under_oversized_and_nested_bodies(
    running_stack: LocalStack, client: httpx.Client, gateway_pid: int
) -> None:
    heavy = [_many(100_000), b"{" + b" " * TEN_MB + b"}", HOSTILE["deeply nested arrays"][0]]
    for body in heavy:  # once, so lazily made objects exist before the measurement
        client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    before = rss_kib(gateway_pid)
    for _ in range(5):
        for body in heavy:
            response = client.post(
                "/predict", content=body, headers={"Content-Type": "application/json"}
            )
            assert 400 <= response.status_code < 500
        status, _, _ = chunked(running_stack.api_port, "/predict", heavy[0])
        assert status == 413
    growth = rss_kib(gateway_pid) - before
    print(f"\ngateway RSS {before} KiB before, growth {growth} KiB after 20 hostile bodies")
    assert growth < 20 * 1024, f"gateway RSS grew {growth} KiB"
