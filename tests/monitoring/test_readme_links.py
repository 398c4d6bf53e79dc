"""Every Prometheus page the README and docs/monitoring.md link to opens on the Prometheus that
`make run` installs (Debian's, which has the classic pages only: `/targets` is a 404 there)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.monitoring import start_prometheus, ui_page
from scripts.run_local import RunSettings
from scripts.stack import ROOT, LocalStack, free_port
from tests.support.tools import system_tool

README = ROOT / "README.md"
DOCUMENTS = [README, ROOT / "docs" / "monitoring.md"]
DEFAULT_PORT = RunSettings.model_fields["prometheus_port"].default
# A URL ends where Markdown's table, parenthesis or code span does.
PROMETHEUS_URL = re.compile(rf"http://127\.0\.0\.1:{DEFAULT_PORT}(/[^\s|)`,>]*)?")


def linked_paths(document: Path) -> set[str]:
    return {match.group(1) or "/" for match in PROMETHEUS_URL.finditer(document.read_text())}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real Prometheus on a free port, with the local configuration (nothing to scrape)."""
    system_tool("prometheus", "system-deps")
    stack = LocalStack(workdir=tmp_path_factory.mktemp("links"))
    port = free_port()
    try:
        start_prometheus(stack, port, exporter_port=None)
        yield f"http://127.0.0.1:{port}"
    finally:
        stack.stop_all()


def test_the_readme_links_the_targets_and_alerts_pages() -> None:
    assert {"/classic/targets", "/classic/alerts"} <= linked_paths(README)


@pytest.mark.parametrize(
    "path", sorted(set().union(*(linked_paths(d) for d in DOCUMENTS))), ids=lambda p: p
)
def test_every_linked_prometheus_page_opens(prometheus: str, path: str) -> None:
    response = httpx.get(prometheus + path, follow_redirects=True, timeout=10)
    assert response.status_code == 200, f"{path}: {response.status_code}"
    assert response.headers["content-type"].startswith("text/html"), path


@pytest.mark.parametrize("page", ["targets", "alerts"])
def test_make_run_prints_pages_that_open(prometheus: str, page: str) -> None:
    url = ui_page(prometheus, page)
    assert url.endswith(f"/{page}"), url
    assert httpx.get(url, timeout=10).status_code == 200
