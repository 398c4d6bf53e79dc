"""bench.soak: its rows, table, summary and plot, from made-up wrk figures (no stack)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from bench.soak import (
    DEFAULT_MIX,
    MB,
    RedisSample,
    Row,
    make_row,
    parse_mix,
    plot,
    render_table,
    row_json,
    summary,
    trimmed_total,
)

KINDS = ["uncached", "batch100"]


def figures(requests: int, errors: int = 0, p99_us: int = 20_000) -> dict[str, int]:
    """What common.lua prints for a 10 s chunk."""
    return {
        "requests": requests,
        "duration_us": 10_000_000,
        "items": requests,
        "jobs": 0,
        "p50_us": 5_000,
        "p99_us": p99_us,
        "errors": errors,
        "unexpected": 0,
    }


def row(elapsed_s: float, used_mb: float = 10, kept: int = 100, trimmed: int | None = 0) -> Row:
    sample = RedisSample(int(used_mb * MB), 256 * MB, kept, trimmed)
    return make_row(
        elapsed_s,
        {"uncached": figures(5_000, errors=3, p99_us=40_000), "batch100": figures(1_000)},
        sample,
    )


def test_a_row_sums_the_kinds_and_keeps_the_slowest_p99() -> None:
    r = row(10)
    assert r.requests == 6_000
    assert r.rps == pytest.approx(600)
    assert r.kinds["uncached"].rps == pytest.approx(500)
    assert r.non2xx == 3
    assert r.p99_ms == 40.0


def test_a_row_as_json_carries_every_kind() -> None:
    document = json.loads(json.dumps(row_json(row(10, trimmed=None))))
    assert document["rps"] == 600
    assert document["records_trimmed"] is None
    assert document["kinds"]["batch100"]["p99_ms"] == 20.0


def test_the_table_has_a_column_per_kind_and_a_line_per_row() -> None:
    table = render_table([row(10), row(20, used_mb=12.5, kept=1_234, trimmed=None)], KINDS)
    header, rule, first, second = table.splitlines()
    assert "uncached req/s" in header
    assert "batch100 req/s" in header
    assert rule.count("---") == header.count("|") - 1
    assert first == "| 10 | 600 | 500 | 100 | 3 | 40.0 | 10.0 | 256 | 100 | 0 |"
    assert second == "| 20 | 600 | 500 | 100 | 3 | 40.0 | 12.5 | 256 | 1,234 | - |"


def test_the_summary_compares_the_end_with_the_end_of_the_warm_up() -> None:
    rows = [row(60, used_mb=5), row(120, used_mb=8, kept=90), row(180, used_mb=9, kept=120)]
    lines = summary(rows, warmup_s=120)
    assert lines[0] == "- requests: 18,000, non-2xx: 9"
    assert "max 9.0 MB" in lines[1]
    assert "(at 120 s): 8.0 MB; the end is +1.0 MB on it" in lines[2]
    assert lines[3] == "- records kept after the warm-up: min 90, max 120"


def test_the_summary_says_when_the_warm_up_was_not_over() -> None:
    assert "was not over" in summary([row(10)], warmup_s=120)[-1]


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    rows = [row(10, trimmed=None), row(20, used_mb=11), row(30, used_mb=12, trimmed=50)]
    out = plot(rows, KINDS, tmp_path / "img" / "soak.png")
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert out.stat().st_size > 10_000


def test_the_mix_overrides_the_defaults_and_zero_leaves_a_kind_out() -> None:
    mix = parse_mix(["uncached=48", "async=0"])
    assert mix["uncached"] == 48
    assert "async" not in mix
    assert mix["cached"] == DEFAULT_MIX["cached"]
    with pytest.raises(ValueError, match="KIND=CONNECTIONS"):
        parse_mix(["bulk=3"])


def test_the_trim_counter_is_summed_over_its_labels() -> None:
    registry = CollectorRegistry()
    counter = Counter("irisq_job_records_trimmed", "trimmed", ["reason"], registry=registry)
    counter.labels("memory").inc(7)
    counter.labels("age").inc(5)
    assert trimmed_total(generate_latest(registry).decode()) == 12
    assert trimmed_total("# nothing here\n") == 0
