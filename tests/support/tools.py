"""The command-line tools the tests run, or a failure that says which make target installs one."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def venv_tool(name: str) -> str:
    """A console script installed beside this interpreter (the project's virtualenv)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install the dev extra (pip install -e '.[dev]')")
    return found


def system_tool(name: str, make_target: str) -> str:
    """A Debian package's binary (sbin included: nginx lives there)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=search)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make {make_target}`")
    return found
