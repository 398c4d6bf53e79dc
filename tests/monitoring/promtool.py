"""Running promtool (Debian's `prometheus` package) from the tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.tools import system_tool


def promtool(*args: str | Path) -> str:
    """promtool's output; the test fails with it when promtool does."""
    done = subprocess.run(
        [system_tool("promtool", "monitoring-deps"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output
