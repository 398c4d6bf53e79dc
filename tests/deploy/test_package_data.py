"""The package the images install (`pip install ./`) declares the data files its code opens.

setuptools puts into the wheel only the non-Python files that `[tool.setuptools.package-data]`
names; a file left out is missing in the image while every test from the source tree passes.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from contract.lua_scripts import Script
from gateway.api_docs import LICENSE_FILE
from tests.support.stackfiles import ROOT

PACKAGE_DATA: dict[str, list[str]] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
    "setuptools"
]["package-data"]
DATA_FILES = [LICENSE_FILE, *(ROOT / "contract" / "lua" / f"{s}.lua" for s in Script)]


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_data_file_the_services_open_is_package_data(path: Path) -> None:
    assert path.is_file()
    package, _, inside = str(path.relative_to(ROOT)).partition("/")
    assert any(Path(inside).match(pattern) for pattern in PACKAGE_DATA.get(package, [])), (
        f"{package}/{inside} is not in pyproject.toml's package-data: the image would lack it"
    )
