"""`python -m bench.soak --minutes N`: a mixed load at full speed for N minutes, watching Redis.

Every kind of request runs at once, one wrk per kind in back-to-back 10 s chunks, against a
local stack started with `make run`'s defaults (or `--url`). After each chunk a row: req/s in
all and per kind, non-2xx, p99, Redis's used_memory and maxmemory, the job records Redis keeps
and the records the gateway trimmed. Writes the rows as a Markdown table, as JSON and as a plot.
A benchmark, not a test: nothing here judges the figures; the exit code says only whether the
stack stayed up.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from prometheus_client.parser import text_string_to_metric_families

from bench.run import machine
from bench.scenarios import SCENARIOS, run_wrk
from contract.jobs import FINISHED_JOBS_KEY, OPEN_JOBS_KEY
from scripts.run_local import RunSettings
from scripts.stack import ROOT, LocalStack, http_ok, wait_until

CHUNK_SECONDS = 10
# Together these saturate two cores: the uncached kind keeps both workers busy, the others
# keep the gateway's cache, batch and job-polling paths in the mix.
DEFAULT_MIX = {
    "uncached": 24,
    "cached": 8,
    "batch100": 8,
    "batch1000": 2,
    "async": 4,
    # Async 100-row jobs keep ~15 kB records: enough to reach their budget within minutes.
    "async100": 4,
}
TRIMMED_COUNTER = "irisq_job_records_trimmed_total"
MB = 2**20
# Every job record Redis keeps is in one of these: finished or open.
RECORD_INDEXES = (FINISHED_JOBS_KEY, OPEN_JOBS_KEY)


@dataclass(frozen=True)
class KindChunk:
    """One kind's wrk run of one chunk."""

    requests: int
    seconds: float
    items: int
    # wrk's "Non-2xx or 3xx responses" plus its socket errors (connect, read, write, timeout).
    non2xx: int
    # Answers the kind's script did not expect, e.g. a 202 at a sync request's deadline.
    unexpected: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class RedisSample:
    """What Redis and the gateway hold at the end of a chunk."""

    used_memory: int
    maxmemory: int
    records_kept: int
    # The gateway's trim counter since the soak began; None when /metrics did not answer.
    records_trimmed: int | None


@dataclass(frozen=True)
class Row:
    elapsed_s: float
    kinds: dict[str, KindChunk]
    sample: RedisSample

    @property
    def requests(self) -> int:
        return sum(k.requests for k in self.kinds.values())

    @property
    def rps(self) -> float:
        return sum(k.rps for k in self.kinds.values())

    @property
    def non2xx(self) -> int:
        return sum(k.non2xx for k in self.kinds.values())

    @property
    def p99_ms(self) -> float:
        return max((k.p99_ms for k in self.kinds.values()), default=0.0)


def kind_chunk(figures: Mapping[str, int]) -> KindChunk:
    """A chunk from the figures common.lua prints (bench.run.run_wrk's result)."""
    return KindChunk(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        items=figures["items"],
        non2xx=figures["errors"],
        unexpected=figures["unexpected"],
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
    )


def make_row(
    elapsed_s: float, figures: Mapping[str, Mapping[str, int]], sample: RedisSample
) -> Row:
    return Row(elapsed_s, {kind: kind_chunk(f) for kind, f in figures.items()}, sample)


def row_json(row: Row) -> dict[str, Any]:
    return {
        "elapsed_s": round(row.elapsed_s, 1),
        "requests": row.requests,
        "rps": round(row.rps, 1),
        "non2xx": row.non2xx,
        "p99_ms": row.p99_ms,
        **asdict(row.sample),
        "kinds": {
            kind: {**asdict(chunk), "rps": round(chunk.rps, 1)} for kind, chunk in row.kinds.items()
        },
    }


# --- what Redis and the gateway hold ------------------------------------------------------


def trimmed_total(metrics_text: str) -> int:
    """The trim counter's samples summed over their labels; 0 while the gateway has none."""
    return int(
        sum(
            sample.value
            for family in text_string_to_metric_families(metrics_text)
            for sample in family.samples
            if sample.name == TRIMMED_COUNTER
        )
    )


def read_trimmed(url: str) -> int | None:
    try:
        response = httpx.get(f"{url}/metrics", timeout=5)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return trimmed_total(response.text)


def sample_redis(client: redis.Redis) -> tuple[int, int, int]:
    """used_memory, maxmemory and the job records kept, in one round trip."""
    pipe = client.pipeline(transaction=False)
    pipe.info("memory")
    for key in RECORD_INDEXES:
        pipe.zcard(key)
    memory, *counts = pipe.execute()
    return int(memory["used_memory"]), int(memory["maxmemory"]), sum(int(n) for n in counts)


def take_sample(client: redis.Redis, url: str, trimmed_before: int) -> RedisSample:
    used, maxmemory, kept = sample_redis(client)
    trimmed = read_trimmed(url)
    since = None if trimmed is None else trimmed - trimmed_before
    return RedisSample(used, maxmemory, kept, since)


# --- the load ------------------------------------------------------------------------------


def run_chunk(pool: ThreadPoolExecutor, url: str, mix: Mapping[str, int]) -> dict[str, Any]:
    """Every kind's wrk for one chunk, side by side; the figures by kind."""
    runs = {
        kind: pool.submit(run_wrk, url, SCENARIOS[kind], connections, CHUNK_SECONDS)
        for kind, connections in mix.items()
    }
    return {kind: run.result() for kind, run in runs.items()}


def soak(
    url: str,
    client: redis.Redis,
    mix: Mapping[str, int],
    chunks: int,
    dead_parts: Callable[[], list[str]],
    on_row: Callable[[Row], None],
) -> list[str]:
    """Run the chunks, a row after each; the parts found dead, after which it stops early."""
    trimmed_before = read_trimmed(url) or 0
    start = time.monotonic()
    with ThreadPoolExecutor(len(mix)) as pool:
        for _ in range(chunks):
            figures = run_chunk(pool, url, mix)
            elapsed = time.monotonic() - start
            # The chunk a part died in still gets its row while Redis answers: its errors
            # show how the load saw the death.
            try:
                sample = take_sample(client, url, trimmed_before)
            except redis.RedisError as exc:
                return dead_parts() or [f"redis: {exc}"]
            on_row(make_row(elapsed, figures, sample))
            dead = dead_parts()
            if dead:
                return dead
    return []


# --- the report -----------------------------------------------------------------------------


def table_header(kinds: Sequence[str]) -> str:
    columns = [
        "elapsed s", "req/s", *(f"{kind} req/s" for kind in kinds), "non-2xx", "p99 ms",
        "used_memory MB", "maxmemory MB", "records kept", "records trimmed",
    ]  # fmt: skip
    return "| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|"


def table_row(row: Row, kinds: Sequence[str]) -> str:
    s = row.sample
    per_kind = [f"{row.kinds[k].rps:,.0f}" if k in row.kinds else "-" for k in kinds]
    cells = [
        f"{row.elapsed_s:.0f}", f"{row.rps:,.0f}", *per_kind, f"{row.non2xx}",
        f"{row.p99_ms:.1f}", f"{s.used_memory / MB:.1f}",
        f"{s.maxmemory / MB:.0f}" if s.maxmemory else "none",
        f"{s.records_kept:,}", "-" if s.records_trimmed is None else f"{s.records_trimmed:,}",
    ]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def render_table(rows: Sequence[Row], kinds: Sequence[str]) -> str:
    return "\n".join([table_header(kinds), *(table_row(row, kinds) for row in rows)])


def summary(rows: Sequence[Row], warmup_s: float) -> list[str]:
    """The run's totals, and how memory and the records kept moved after the warm-up."""
    if not rows:
        return ["no chunk finished"]
    used_mb = [row.sample.used_memory / MB for row in rows]
    lines = [
        f"- requests: {sum(row.requests for row in rows):,}, "
        f"non-2xx: {sum(row.non2xx for row in rows):,}",
        f"- used_memory: max {max(used_mb):.1f} MB, at the end {used_mb[-1]:.1f} MB",
    ]
    settled = [row for row in rows if row.elapsed_s >= warmup_s]
    if not settled:
        lines.append(f"- the warm-up ({warmup_s:.0f} s) was not over: nothing after it to compare")
        return lines
    kept = [row.sample.records_kept for row in settled]
    settled_mb = settled[0].sample.used_memory / MB
    lines += [
        f"- used_memory after the warm-up (at {settled[0].elapsed_s:.0f} s): {settled_mb:.1f} MB;"
        f" the end is {used_mb[-1] - settled_mb:+.1f} MB on it",
        f"- records kept after the warm-up: min {min(kept):,}, max {max(kept):,}",
    ]
    return lines


def plot(rows: Sequence[Row], kinds: Sequence[str], out: Path) -> Path:
    """Five panels against elapsed time, as a PNG at `out`."""
    fig = Figure(figsize=(10, 13))
    FigureCanvasAgg(fig)
    axes = fig.subplots(5, 1, sharex=True)
    t = [row.elapsed_s for row in rows]
    rps, errors, p99, memory, records = axes
    rps.plot(t, [row.rps for row in rows], label="all", linewidth=2)
    for kind in kinds:
        kind_rps = [row.kinds[kind].rps if kind in row.kinds else math.nan for row in rows]
        rps.plot(t, kind_rps, label=kind, linewidth=1)
    rps.set_ylabel("req/s")
    errors.plot(t, [row.non2xx for row in rows], color="tab:red", marker=".")
    errors.set_ylabel("non-2xx per chunk")
    p99.plot(t, [row.p99_ms for row in rows], color="tab:purple", marker=".")
    p99.set_ylabel("p99 ms (slowest kind)")
    memory.plot(t, [row.sample.used_memory / MB for row in rows], label="used_memory")
    if any(row.sample.maxmemory for row in rows):
        memory.plot(t, [row.sample.maxmemory / MB for row in rows], "--", label="maxmemory")
    memory.set_ylabel("Redis MB")
    records.plot(t, [row.sample.records_kept for row in rows], label="kept")
    records.plot(
        t,
        [math.nan if r.sample.records_trimmed is None else r.sample.records_trimmed for r in rows],
        label="trimmed (cumulative)",
    )
    records.set_ylabel("job records")
    records.set_xlabel("elapsed s")
    for ax in axes:
        ax.grid(alpha=0.3)
        # From zero, so that a flat line reads as flat rather than as noise zoomed in; the room
        # on top keeps the legend off the lines, and a panel of zeros still spans 0 to 1.
        ax.set_ylim(0, max(1.0, ax.get_ylim()[1] * 1.25))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", ncol=3)
    fig.suptitle(f"irisq soak: {CHUNK_SECONDS} s chunks, mixed load")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    return out


# --- the stack --------------------------------------------------------------------------------


def start_like_make_run(stack: LocalStack) -> None:
    """Redis, the workers and the gateway with `make run`'s defaults, on the stack's free ports."""
    run = RunSettings()
    stack.start_redis(maxmemory=run.redis_maxmemory)
    stack.train_if_missing()
    for _ in range(run.workers):
        stack.start_worker()
    stack.start_gateway()
    wait_until(lambda: http_ok(f"{stack.base_url}/ready"), 30, "the gateway ready")


def local_stack_description() -> str:
    run = RunSettings()
    return (
        f"own stack as `make run` starts it: {run.workers} workers, Redis maxmemory "
        f"{run.redis_maxmemory} volatile-lru, the gateway's default settings"
    )


def exited(stack: LocalStack) -> list[str]:
    return [f"{s.name} exited (log: {s.log_path})" for s in stack.services if not s.alive()]


def unanswered(url: str, client: redis.Redis) -> list[str]:
    """The parts that do not answer within a few seconds."""
    probes: dict[str, Callable[[], bool]] = {
        f"gateway at {url}": lambda: http_ok(f"{url}/health"),
        "redis": lambda: bool(client.ping()),
    }
    dead = []
    for part, probe in probes.items():
        try:
            wait_until(probe, 5, part)
        except TimeoutError:
            dead.append(f"{part} does not answer")
    return dead


# --- the command ------------------------------------------------------------------------------


def parse_mix(entries: Sequence[str]) -> dict[str, int]:
    """KIND=CONNECTIONS entries over DEFAULT_MIX; 0 connections leaves a kind out."""
    mix = dict(DEFAULT_MIX)
    for entry in entries:
        kind, _, connections = entry.partition("=")
        if kind not in DEFAULT_MIX or not connections.isdigit():
            raise ValueError(f"{entry!r}: want KIND=CONNECTIONS, KIND one of {', '.join(mix)}")
        mix[kind] = int(connections)
    return {kind: n for kind, n in mix.items() if n > 0}


def write_outputs(
    out: Path, plot_path: Path, rows: Sequence[Row], kinds: Sequence[str], meta: dict[str, Any]
) -> None:
    """soak.md and soak.json in `out`, and the plot at `plot_path`; prints the summary."""
    out.mkdir(parents=True, exist_ok=True)
    lines = summary(rows, meta["warmup_s"])
    heading = [f"# Soak, {meta['when']}", "", f"- Command: `{meta['command']}`"]
    heading += [f"- {name}: {meta[name]}" for name in ("machine", "target", "mix")]
    heading += [f"- Failed: {'; '.join(meta['failed'])}"] if meta["failed"] else []
    heading += [
        f"- A row per {CHUNK_SECONDS} s chunk; non-2xx includes wrk's socket errors; p99 is the"
        " slowest kind's (soak.json has each kind's); records trimmed counts from the start."
    ]
    markdown = [*heading, "", render_table(rows, kinds), "", "## Summary", "", *lines, ""]
    (out / "soak.md").write_text("\n".join(markdown))
    document = {**meta, "rows": [row_json(row) for row in rows], "summary": lines}
    (out / "soak.json").write_text(json.dumps(document, indent=1) + "\n")
    written = [out / "soak.md", out / "soak.json"]
    if rows:
        written.append(plot(rows, kinds, plot_path))
    print("\n" + "\n".join(lines))
    print("written: " + ", ".join(str(path) for path in written))


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10, help="how long the load runs")
    parser.add_argument("--url", help="soak a running gateway instead of starting a stack")
    parser.add_argument("--redis-url", help="that gateway's Redis (goes with --url)")
    parser.add_argument(
        "--mix",
        nargs="+",
        default=[],
        metavar="KIND=CONNECTIONS",
        help=f"connections per kind, over the defaults {DEFAULT_MIX}; 0 leaves a kind out",
    )
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=2,
        help="the start the summary compares the rest with (default 2)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "soak")
    parser.add_argument("--plot", type=Path, help="where the PNG goes (default OUT/soak.png)")
    args = parser.parse_args(argv)
    if bool(args.url) != bool(args.redis_url):
        parser.error("--url and --redis-url go together")
    try:
        args.mix = parse_mix(args.mix)
    except ValueError as exc:
        parser.error(f"--mix {exc}")
    if not args.mix:
        parser.error("--mix leaves no kind to run")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = arguments(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    kinds = list(args.mix)
    meta: dict[str, Any] = {
        "when": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "command": " ".join(["python -m bench.soak", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(),
        "target": args.url or local_stack_description(),
        "mix": args.mix,
        "chunk_seconds": CHUNK_SECONDS,
        "warmup_s": args.warmup_minutes * 60,
        "failed": [],
    }
    rows: list[Row] = []

    def show(row: Row) -> None:
        rows.append(row)
        print(table_row(row, kinds), flush=True)

    stack: LocalStack | None = None
    try:
        if args.url is None:
            # Assigned before anything starts, so that `finally` stops what a failed start left.
            stack = LocalStack(workdir=Path(tempfile.mkdtemp(prefix="irisq-soak-")))
            print(f"starting the stack; its logs go to {stack.workdir / 'logs'}", flush=True)
            start_like_make_run(stack)
        url = args.url if stack is None else stack.base_url
        redis_url = args.redis_url if stack is None else str(stack.redis_url)
        client = redis.Redis.from_url(redis_url, socket_timeout=5)

        def dead_parts() -> list[str]:
            return (exited(stack) if stack is not None else []) or unanswered(url, client)

        print(table_header(kinds), flush=True)
        chunks = max(1, math.ceil(args.minutes * 60 / CHUNK_SECONDS))
        meta["failed"] = soak(url, client, args.mix, chunks, dead_parts, show)
    except (RuntimeError, TimeoutError) as exc:
        meta["failed"] = [f"the stack did not start: {exc}"]
    except (subprocess.CalledProcessError, StopIteration) as exc:
        meta["failed"] = [f"wrk failed: {exc!r}"]
    except KeyboardInterrupt:
        print("interrupted: writing the rows so far", flush=True)
    finally:
        if stack is not None:
            stack.stop_all()
    write_outputs(args.out, args.plot or args.out / "soak.png", rows, kinds, meta)
    if meta["failed"]:
        sys.exit("failed: " + "; ".join(meta["failed"]))


if __name__ == "__main__":
    main()
