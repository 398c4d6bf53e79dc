"""schemathesis against the live gateway's /openapi.json: no 5xx, every response as documented."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest

from scripts.stack import LocalStack
from tests.support.tools import venv_tool

EXAMPLES_PER_OPERATION = 100
MIN_CASES = 300
CHECKS = "not_a_server_error,response_schema_conformance"


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    running_stack: LocalStack, tmp_path: Path
) -> None:
    argv = [
        venv_tool("st"), "run", f"{running_stack.base_url}/openapi.json",
        "--checks", CHECKS,
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--request-timeout", "20",
        # One worker: hypothesis describes its filters by parsing their source, and CPython
        # 3.11's AST constructor is not safe across threads ("recursion depth mismatch").
        "--workers", "1",
    ]  # fmt: skip
    # Its own working directory: schemathesis and hypothesis keep state in the current one.
    # (--max-time would be a budget to fill, not a cap: the subprocess timeout bounds it.)
    run = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    # Every operation the document lists is tested.
    paths = httpx.get(f"{running_stack.base_url}/openapi.json").json()["paths"]
    operations = sum(len(item) for item in paths.values())
    assert f"Operations:       {operations} selected / {operations} total" in output, output[-4000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases, output[-4000:]
    generated, passed = map(int, cases.groups())
    print(f"\nschemathesis: {generated} cases generated, {passed} passed ({CHECKS})")
    assert generated == passed >= MIN_CASES
