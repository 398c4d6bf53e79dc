"""bench.run's latest-run section: the rewrite keeps the page, and the page ends with it."""

from __future__ import annotations

from pathlib import Path

from bench.run import LATEST_MARKER, write_latest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "performance.md"
REPORT = ["## Latest run", "", "- When: now", "", "| scenario |", "|---|", "| cached |", ""]


def test_the_rewrite_keeps_everything_before_the_marker_and_replaces_the_rest(
    tmp_path: Path,
) -> None:
    page = tmp_path / "performance.md"
    page.write_text(PAGE.read_text())
    head = PAGE.read_text().split(LATEST_MARKER)[0]
    write_latest(page, REPORT)
    write_latest(page, REPORT)
    assert page.read_text() == head + LATEST_MARKER + "\n" + "\n".join(REPORT)


def test_a_missing_page_is_created_with_the_marker(tmp_path: Path) -> None:
    page = tmp_path / "docs" / "performance.md"
    write_latest(page, REPORT)
    assert page.read_text().startswith("# Performance\n\n" + LATEST_MARKER + "\n## Latest run\n")


def test_only_the_latest_run_follows_the_marker_in_the_performance_page() -> None:
    text = PAGE.read_text()
    assert text.count(LATEST_MARKER) == 1
    tail = text.split(LATEST_MARKER)[1]
    assert tail.startswith("\n## Latest run\n")
    headings = [line for line in tail.splitlines() if line.startswith("## ")]
    assert headings == ["## Latest run"]


def test_the_performance_page_stays_under_200_lines() -> None:
    assert len(PAGE.read_text().splitlines()) < 200
