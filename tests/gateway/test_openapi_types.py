"""The web UI's API types are generated from the gateway's OpenAPI document, and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts.stack import ROOT

FRONTEND = ROOT / "frontend"
DOCUMENT = FRONTEND / "openapi.json"
SCHEMA_TYPES = FRONTEND / "src" / "api" / "schema.d.ts"
OPENAPI_TYPESCRIPT = FRONTEND / "node_modules" / ".bin" / "openapi-typescript"
# Each command takes a second or two; the bound is for a loaded 2-core machine.
COMMAND_TIMEOUT_SECONDS = 120
STALE = "the committed API types are stale: run `make api-types`"


@pytest.fixture(scope="module")
def current_document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The document the gateway serves today, written as `make api-types` writes it."""
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    subprocess.run(
        [sys.executable, "-m", "scripts.openapi", str(path)],
        cwd=ROOT,
        check=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
    )
    return path


def test_the_committed_openapi_document_is_the_gateways(current_document: Path) -> None:
    assert current_document.read_text() == DOCUMENT.read_text(), STALE


def test_the_committed_api_types_are_generated_from_the_gateways_document(
    current_document: Path, tmp_path: Path
) -> None:
    if not OPENAPI_TYPESCRIPT.exists():
        pytest.skip(f"{OPENAPI_TYPESCRIPT} is missing: run `make frontend-deps`")
    generated = tmp_path / "schema.d.ts"
    subprocess.run(
        [str(OPENAPI_TYPESCRIPT), str(current_document), "--output", str(generated)],
        cwd=FRONTEND,
        check=True,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
    )
    assert generated.read_text() == SCHEMA_TYPES.read_text(), STALE
