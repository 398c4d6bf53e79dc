"""The images' HEALTHCHECK commands, run as written against real services."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.stack import ROOT, LocalStack, free_port
from tests.deploy import dockerfile
from tests.support.stackfiles import BUILT


def healthcheck(name: str) -> tuple[list[str], float]:
    """The image's healthcheck argv and its timeout in seconds."""
    check = dockerfile.parse(BUILT[name])[-1].last("HEALTHCHECK")
    assert check is not None
    timeout = dockerfile.healthcheck_options(check.args)["timeout"]
    return check.exec_form(), float(timeout.removesuffix("s"))


def run(argv: list[str], env: dict[str, str], timeout: float) -> int:
    """Run a healthcheck the way Docker does: its exit code is the verdict."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "API_"))}
    # The image's interpreter and console scripts come first on its PATH.
    base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
    result = subprocess.run(
        argv, env={**base, **env}, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 10
    )
    return result.returncode


def test_gateway_healthcheck_passes_on_a_live_gateway(running_stack: LocalStack) -> None:
    argv, timeout = healthcheck("gateway")
    assert run(argv, {"API_PORT": str(running_stack.api_port)}, timeout) == 0


def test_gateway_healthcheck_fails_when_nothing_answers() -> None:
    argv, timeout = healthcheck("gateway")
    assert run(argv, {"API_PORT": str(free_port())}, timeout) != 0


@pytest.fixture
def worker_node(stack: LocalStack) -> str:
    """A real worker named as in its image (WORKER_NAME=irisq@%h); %h is this host's name."""
    stack.start_redis()
    name = f"irisq-deploytest-{os.getpid()}@%h"
    stack.start_worker(WORKER_NAME=name)
    return name


def test_worker_healthcheck_pings_its_own_node(worker_node: str, stack: LocalStack) -> None:
    argv, timeout = healthcheck("worker")
    env = {
        "REDIS_URL": str(stack.redis_url),
        "WORKER_NAME": worker_node,
        # Docker sets HOSTNAME to the container's host name, which %h expands to.
        "HOSTNAME": socket.gethostname(),
        "MODEL_DIR": str(stack.model_dir),
    }
    assert run(argv, env, timeout) == 0
    # Another node's name gets no reply: the check is about this container's worker.
    env["HOSTNAME"] = "some-other-container"
    quick = [a.replace("--timeout 10", "--timeout 2") for a in argv]
    assert run(quick, env, timeout) != 0


def test_frontend_healthcheck_needs_no_gateway() -> None:
    """/healthz is answered by nginx itself (test_frontend_proxy runs it)."""
    argv, _ = healthcheck("frontend")
    assert argv[-1] == "http://127.0.0.1:5174/healthz"
