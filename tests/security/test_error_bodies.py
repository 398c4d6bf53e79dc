"""Every error path the gateway has: a problem document without a trace, path or address."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest

from scripts.stack import LocalStack, free_port, wait_until
from tests.support.items import SETOSA, fresh_item
from tests.support.problems import assert_safe_problem


@pytest.mark.slow
def test_no_error_body_shows_a_trace_a_path_an_address_or_a_secret(
    tmp_path: Path, model_dir: Path
) -> None:
    password = secrets.token_urlsafe(24)
    port = free_port()
    stack = LocalStack(
        workdir=tmp_path / "stack",
        redis_port=port,
        model_dir=model_dir,
        redis_url=f"redis://:{password}@127.0.0.1:{port}/0",
    )
    hidden = [password, f":{port}", f":{stack.api_port}", str(model_dir)]
    seen: dict[int, int] = {}

    def check(response: httpx.Response, status: int) -> None:
        assert_safe_problem(response, status, secrets=hidden)
        seen[status] = seen.get(status, 0) + 1

    try:
        stack.start_redis(password=password)
        # Jobs end 1 s after they were created when nobody finishes them: the 500 path.
        stack.start_gateway(JOB_TIMEOUT_SECONDS="1", SWEEP_INTERVAL_SECONDS="0.2")
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            # No worker yet: no model, not ready.
            check(http.get("/model"), 503)
            check(http.get("/ready"), 503)

            # No worker takes the job: it fails at its deadline, and the waiting request says so.
            check(http.post("/predict?wait=20", json={"items": [fresh_item()]}), 500)

            check(http.get(f"/jobs/{'0' * 32}"), 404)
            check(http.get("/jobs/..%2F..%2Fetc%2Fpasswd"), 404)
            check(http.get("/no/such/route"), 404)
            check(http.get("/predict"), 405)
            check(http.delete(f"/jobs/{'0' * 32}"), 405)
            check(http.put("/model"), 405)
            check(http.post("/predict", json={"items": [SETOSA] * 1001}), 413)
            check(
                http.post(
                    "/predict",
                    content=b" " * (600 * 1024),
                    headers={"Content-Type": "application/json"},
                ),
                413,
            )
            check(http.post("/predict", json={"items": [{**SETOSA, "petal_width": -1}]}), 422)
            check(http.post("/predict", json={"items": [{**SETOSA, "secret": 1}]}), 422)
            check(http.post("/predict?wait=-1", json={"items": [SETOSA]}), 422)
            check(
                http.post(
                    "/predict", content=b"{oops", headers={"Content-Type": "application/json"}
                ),
                422,
            )
            check(
                http.post(
                    "/predict", content=b"[" * 100_000, headers={"Content-Type": "application/json"}
                ),
                422,
            )

            # Redis gone: every route that needs it answers 503, and says so plainly.
            stack.stop_redis()
            check(http.post("/predict", json={"items": [fresh_item()]}), 503)
            check(http.post("/predict?mode=async", json={"items": [fresh_item()]}), 503)
            check(http.get(f"/jobs/{'0' * 32}"), 503)
            check(http.get("/model"), 503)
            check(http.get("/ready"), 503)
            stack.start_redis(password=password)
            wait_until(lambda: http.get(f"/jobs/{'0' * 32}").status_code == 404, 30, "recovery")
    finally:
        stack.stop_all()
    assert set(seen) == {404, 405, 413, 422, 500, 503}, seen
