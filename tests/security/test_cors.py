"""CORS: only the origins in CORS_ORIGINS get a grant; every other origin gets none."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scripts.stack import LocalStack
from tests.support.items import SETOSA

ALLOWED = "https://app.irisq.example"
ALSO_ALLOWED = "http://127.0.0.1:5174"
OTHERS = [
    "https://evil.example",
    "https://app.irisq.example.evil.example",  # an allowed origin as a prefix
    "http://app.irisq.example",  # same host, other scheme
    "https://app.irisq.example:8443",  # same host, other port
    "null",  # sandboxed iframes and file:// pages
]


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    stack = LocalStack(workdir=tmp_path_factory.mktemp("cors"))
    try:
        stack.start_redis()
        stack.start_gateway(CORS_ORIGINS=f"{ALLOWED}, {ALSO_ALLOWED}")
        with httpx.Client(base_url=stack.base_url, timeout=10) as client:
            yield client
    finally:
        stack.stop_all()


def _preflight(http: httpx.Client, origin: str, method: str = "POST") -> httpx.Response:
    return http.options(
        "/predict",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,prefer",
        },
    )


@pytest.mark.parametrize("origin", [ALLOWED, ALSO_ALLOWED])
def test_a_listed_origin_is_granted_exactly_itself(http: httpx.Client, origin: str) -> None:
    response = _preflight(http, origin)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-credentials" not in response.headers
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "content-type" in allowed_headers
    assert "prefer" in allowed_headers

    simple = http.get("/health", headers={"Origin": origin})
    assert simple.headers["access-control-allow-origin"] == origin
    assert "location" in simple.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize("origin", OTHERS)
def test_any_other_origin_gets_no_grant(http: httpx.Client, origin: str) -> None:
    preflight = _preflight(http, origin)
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers

    for response in (
        http.get("/health", headers={"Origin": origin}),
        http.get("/model", headers={"Origin": origin}),
        http.post("/predict?mode=async", json={"items": [SETOSA]}, headers={"Origin": origin}),
    ):
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_only_get_and_post_are_granted(http: httpx.Client, method: str) -> None:
    response = _preflight(http, ALLOWED, method)
    assert response.status_code == 400
    assert method not in response.headers.get("access-control-allow-methods", "")
