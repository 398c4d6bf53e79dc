"""REDIS_PASSWORD end to end: Redis requires it, gateway and worker use it, nobody shows it."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import psutil
import pytest

from scripts.stack import LocalStack, free_port, wait_until
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job
from tests.support.problems import assert_safe_problem

pytestmark = pytest.mark.slow


def _protected_stack(workdir: Path, model_dir: Path, password: str) -> LocalStack:
    port = free_port()
    return LocalStack(
        workdir=workdir,
        redis_port=port,
        model_dir=model_dir,
        # The stack's own checks (is Redis up?) need the password too.
        redis_url=f"redis://:{password}@127.0.0.1:{port}/0",
    )


def _by_parts(stack: LocalStack, password: str) -> dict[str, str]:
    """Settings as an operator writes them: host, port and REDIS_PASSWORD, no URL."""
    return {
        "REDIS_URL": "",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(stack.redis_port),
        "REDIS_PASSWORD": password,
    }


def test_gateway_and_worker_use_redis_password_end_to_end(tmp_path: Path, model_dir: Path) -> None:
    password = secrets.token_urlsafe(24)
    stack = _protected_stack(tmp_path / "stack", model_dir, password)
    try:
        stack.start_redis(password=password)
        stack.start_worker(True, **_by_parts(stack, password))
        gateway = stack.start_gateway(**_by_parts(stack, password))
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            wait_until(lambda: http.get("/ready").status_code == 200, 30, "ready")
            assert http.post("/predict", json={"items": [fresh_item()]}).status_code == 200
            accepted = http.post("/predict?mode=async", json={"items": [fresh_item()]})
            assert wait_for_job(http, accepted.json()["job_id"])["status"] == "done"
            assert password not in http.get("/metrics").text
            assert_safe_problem(http.get(f"/jobs/{'0' * 32}"), 404, secrets=[password])
        # Neither the logs nor the process list show it.
        for service in stack.services:
            assert password not in service.log(), f"{service.name} logged the password"
        for pid in (gateway.pid, stack.redis_server.pid if stack.redis_server else 0):
            assert password not in " ".join(psutil.Process(pid).cmdline())
    finally:
        stack.stop_all()


def test_without_the_password_the_gateway_answers_503_not_500(
    tmp_path: Path, model_dir: Path
) -> None:
    password = secrets.token_urlsafe(24)
    stack = _protected_stack(tmp_path / "stack", model_dir, password)
    try:
        stack.start_redis(password=password)
        for wrong in ("", "not-the-password"):
            env = _by_parts(stack, wrong)
            gateway = stack.start_gateway(**env)
            with httpx.Client(base_url=stack.base_url, timeout=30) as http:
                for response in (
                    http.post("/predict", json={"items": [fresh_item()]}),
                    http.post("/predict?mode=async", json={"items": [fresh_item()]}),
                    http.get(f"/jobs/{'0' * 32}"),
                ):
                    assert_safe_problem(response, 503, secrets=[password, wrong])
                ready = http.get("/ready")
                assert_safe_problem(ready, 503, secrets=[password, wrong])
                assert ready.json()["checks"]["redis"].startswith("unreachable")
                assert http.get("/health").status_code == 200
            stack.stop(gateway)
    finally:
        stack.stop_all()
