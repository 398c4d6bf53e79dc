"""`make bench`: drive the stack with wrk and print req/s, items/s, p50, p99 and errors.

Starts the local stack (Redis, workers, gateway) and the bare reference endpoint, or targets
`--url`; and, for the `ref_*` scenarios, the in-process V2 reference (bench/reference_v2.py,
compared in bench/comparison.py) on the bench's model. Writes the figures to
docs/performance.md with the command and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.comparison import comparison_report, start_reference
from bench.scenarios import DEFAULT_SCENARIOS, GRPC, SCENARIOS, run_load, run_wrk
from scripts.stack import ROOT, LocalStack, Service, free_port, http_ok, wait_until

# The output page ends with the latest run after this marker; each run replaces all after it.
LATEST_MARKER = "<!-- bench:latest -->"


@dataclass
class Result:
    scenario: str
    concurrency: int
    workers: int
    requests: int
    seconds: float
    items: int
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us_per_request: dict[str, float]
    # The bare endpoint's req/s measured just before this scenario, at its concurrency.
    bare_rps: float | None = None
    # The bare endpoint's own CPU per request in that run: what parsing alone costs.
    bare_cpu_us: float | None = None
    # The lowest and highest ratio of the `--repeat` pairs this row is the median of.
    ratio_range: tuple[float, float] | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds

    @property
    def ratio(self) -> float:
        return self.rps / self.bare_rps if self.bare_rps else float("nan")


def cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) used so far by every live process of a process group."""
    total = 0.0
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid:
                times = process.cpu_times()
                total += times.user + times.system
        except (psutil.Error, ProcessLookupError):
            continue  # gone since it was listed
    return total


def measure(
    url: str,
    name: str,
    concurrency: int,
    seconds: int,
    workers: int,
    components: dict[str, int] | None = None,
) -> Result:
    """Run one scenario; `components` maps a part's name to its process group for CPU use.

    `url`: the server's; for a gRPC scenario, the gRPC face's host:port.
    """
    scenario = SCENARIOS[name]
    groups = components or {}
    before = {part: cpu_seconds(pgid) for part, pgid in groups.items()}
    f = run_load(url, scenario, concurrency, seconds)
    cpu = {part: cpu_seconds(pgid) - before[part] for part, pgid in groups.items()}
    items = f["items"] if scenario.server != "bare" else f["requests"] * scenario.items
    requests = max(f["requests"], 1)
    return Result(
        cpu_us_per_request={part: 1e6 * s / requests for part, s in cpu.items()},
        scenario=name,
        concurrency=concurrency,
        workers=workers,
        requests=f["requests"],
        seconds=f["duration_us"] / 1e6,
        items=items,
        p50_ms=f["p50_us"] / 1000,
        p99_ms=f["p99_us"] / 1000,
        errors=f["errors"] + f["unexpected"],
    )


def start_bare(workdir: Path) -> tuple[Service, str]:
    port = free_port()
    service = Service(
        "bare",
        [sys.executable, "-m", "bench.bare", "--port", str(port)],
        dict(os.environ),
        workdir / "logs" / "bare.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(f"{url}/docs"), 20, "bare endpoint")
    return service, url


PARTS = ("gateway", "workers", "redis")


def format_row(r: Result) -> str:
    cpu = " | ".join(
        f"{r.cpu_us_per_request[p]:.0f}" if p in r.cpu_us_per_request else "-" for p in PARTS
    )
    bare = f"{r.bare_rps:,.0f}" if r.bare_rps else "-"
    bare_cpu = f"{r.bare_cpu_us:.0f}" if r.bare_cpu_us is not None else "-"
    ratio = f"{r.ratio:.2f}" if r.bare_rps else "-"
    if r.ratio_range is not None:
        ratio += f" ({r.ratio_range[0]:.2f}-{r.ratio_range[1]:.2f})"
    workers = r.workers if SCENARIOS[r.scenario].server == "irisq" else "-"
    return (
        f"| {r.scenario} | {r.concurrency} | {workers} | {r.rps:,.0f} | {r.items_per_s:,.0f} "
        f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {bare} | {bare_cpu} | {ratio} | {cpu} |"
    )


def measure_against_bare(
    bare: tuple[Service, str],
    url: str,
    name: str,
    concurrency: int,
    args: argparse.Namespace,
    workers: int,
    parts: dict[str, int],
) -> Result:
    """The scenario right after the bare endpoint, `--repeat` times; the run of median ratio.

    This machine's speed drifts by up to half within minutes: a ratio is only as good as the
    two figures are close in time, so each scenario gets its own bare measurement. A scenario
    without a bare counterpart runs alone; its run of median req/s is kept.
    """
    service, bare_url = bare
    bare_parts = {"gateway": service.pid}
    paired = SCENARIOS[name].reference
    runs = []
    for _ in range(args.repeat):
        reference = (
            measure(bare_url, paired, concurrency, args.seconds, 0, bare_parts) if paired else None
        )
        result = merge_workers(measure(url, name, concurrency, args.seconds, workers, parts))
        if reference is not None:
            result.bare_rps = reference.rps
            result.bare_cpu_us = reference.cpu_us_per_request.get("gateway")
        runs.append(result)
    runs.sort(key=lambda r: r.ratio if paired else r.rps)
    median = runs[len(runs) // 2]
    if len(runs) > 1 and paired:
        median.ratio_range = (runs[0].ratio, runs[-1].ratio)
    return median


HEADER = (
    "| scenario | conc. | workers | req/s | items/s | p50 ms | p99 ms | errors | bare req/s "
    "| bare CPU µs/req | ratio to bare | CPU µs/req gateway | workers | redis |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    python = platform.python_version()
    return f"{psutil.cpu_count()} cores, {mem:.0f} GiB, {platform.platform()}, Python {python}"


class BenchStack:
    """The local stack as the benchmark runs it: Redis, N workers, the gateway, warmed up."""

    def __init__(self, workdir: Path, pool: str) -> None:
        self.stack = LocalStack(workdir=workdir)
        self.pool = pool
        self.workers: list[Service] = []
        self.gateways: list[Service] = []

    def start(
        self, workers: int, gateways: int = 1, gateway_env: Mapping[str, str] | None = None
    ) -> str:
        """The stack with `workers` workers and `gateways` gateway processes on one port."""
        self.stack.stop_all()
        self.stack.start_redis()
        self.stack.train_if_missing()
        self.workers = [self.stack.start_worker(WORKER_POOL=self.pool) for _ in range(workers)]
        self.gateways = self.stack.start_gateways(
            gateways, LOG_LEVEL="WARNING", **(gateway_env or {})
        )
        wait_until(lambda: http_ok(f"{self.stack.base_url}/ready"), 30, "ready")
        # Warm up: the model version known, the cached scenario's entry present.
        run_wrk(self.stack.base_url, SCENARIOS["cached"], 4, 1)
        return self.stack.base_url

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.stack.grpc_port}"

    def components(self) -> dict[str, int]:
        parts = {f"worker{i}": w.pid for i, w in enumerate(self.workers)}
        assert self.stack.redis_server is not None
        # One gateway: `gateway`; several: gateway1, gateway2, ... (format_gateways_row).
        gateways = {g.name: g.pid for g in self.gateways}
        return {**gateways, "redis": self.stack.redis_server.pid, **parts}

    def stop(self) -> None:
        self.stack.stop_all()


def merge_workers(result: Result) -> Result:
    """Sum the workers' CPU into one `workers` figure."""
    cpu = {k: v for k, v in result.cpu_us_per_request.items() if not k.startswith("worker")}
    workers = [v for k, v in result.cpu_us_per_request.items() if k.startswith("worker")]
    if workers:
        cpu["workers"] = sum(workers)
    result.cpu_us_per_request = cpu
    return result


GATEWAYS_HEADER = (
    "| gateways | scenario | conc. | workers | req/s | p50 ms | p99 ms | errors | bare req/s "
    "| ratio to bare | CPU µs/req each gateway | gateways | workers | redis |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def format_gateways_row(count: int, r: Result) -> str:
    """One run of the gateways comparison: each gateway process's CPU per request (of all
    the run's requests), their sum, the workers' and Redis'."""
    cpu = r.cpu_us_per_request
    each = [v for k, v in cpu.items() if k.startswith("gateway")]
    ratio = f"{r.ratio:.2f}"
    if r.ratio_range is not None:
        ratio += f" ({r.ratio_range[0]:.2f}-{r.ratio_range[1]:.2f})"
    return (
        f"| {count} | {r.scenario} | {r.concurrency} | {r.workers} | {r.rps:,.0f} "
        f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {r.bare_rps:,.0f} | {ratio} "
        f"| {' + '.join(f'{v:.0f}' for v in each)} | {sum(each):.0f} "
        f"| {cpu.get('workers', 0):.0f} | {cpu['redis']:.0f} |"
    )


def compare_gateways(
    bench: BenchStack, bare: tuple[Service, str], args: argparse.Namespace
) -> list[tuple[int, Result]]:
    """Uncached and cached at c64 with each count of gateway processes, the counts taking
    turns `--repeat` times (the machine drifts within minutes); per count and scenario, the
    run of median ratio to the bare endpoint, with the range of the ratios."""
    once = argparse.Namespace(**{**vars(args), "repeat": 1})
    runs: dict[tuple[int, str], list[Result]] = {}
    for _ in range(args.repeat):
        for count in args.gateways:
            url = bench.start(args.workers, gateways=count)
            parts = bench.components()
            for name in ("uncached", "cached"):
                r = measure_against_bare(bare, url, name, 64, once, args.workers, parts)
                print(format_gateways_row(count, r), flush=True)
                runs.setdefault((count, name), []).append(r)
    chosen = []
    for (count, _), results in runs.items():
        results.sort(key=lambda r: r.ratio)
        median = results[len(results) // 2]
        median.ratio_range = (results[0].ratio, results[-1].ratio)
        chosen.append((count, median))
    return chosen


def write_latest(path: Path, report: list[str]) -> None:
    """Replace what follows the marker in `path` with `report`; keep everything before it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else f"# Performance\n\n{LATEST_MARKER}\n"
    head = text.split(LATEST_MARKER)[0]
    path.write_text(head + LATEST_MARKER + "\n" + "\n".join(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="benchmark a running gateway instead of starting one")
    parser.add_argument("--grpc-target", help="with --url: its gRPC face's host:port")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 64])
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=DEFAULT_SCENARIOS,
        choices=[name for name, s in SCENARIOS.items() if s.server != "bare"],
    )
    # One worker process: on two cores the gateway's loop needs one, and a second worker
    # process only competes for the other (docs/performance.md, the scaling curve).
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per scenario; the one of median ratio is kept"
    )
    parser.add_argument("--pool", default="prefork", choices=["prefork", "solo", "threads"])
    parser.add_argument(
        "--scaling",
        type=int,
        nargs="*",
        default=[1, 2, 4],
        help="worker counts for the scaling runs (uncached, batch100 at c64)",
    )
    parser.add_argument(
        "--gateways",
        type=int,
        nargs="*",
        default=[1, 2],
        help="gateway process counts for the gateways runs (uncached and cached at c64)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    grpc = any(SCENARIOS[name].script == GRPC for name in args.scenarios)
    if grpc and args.url and not args.grpc_target:
        sys.exit("the grpc_* scenarios with --url need --grpc-target host:port")

    workdir = Path(tempfile.mkdtemp(prefix="irisq-bench-"))
    bench = BenchStack(workdir, args.pool)
    bare = start_bare(workdir)
    reference: tuple[Service, str] | None = None
    results: list[Result] = []
    scaling: list[Result] = []
    gateway_runs: list[tuple[int, Result]] = []
    try:
        url = args.url or bench.start(args.workers)
        parts = {} if args.url else bench.components()
        if any(SCENARIOS[name].server == "reference" for name in args.scenarios):
            # The model the bench's stack serves (with --url: one trained alike).
            bench.stack.train_if_missing()
            assert bench.stack.model_dir is not None
            reference = start_reference(workdir, bench.stack.model_dir)
        print(HEADER, flush=True)
        for c in args.concurrency:
            for name in args.scenarios:
                if SCENARIOS[name].server == "reference":
                    assert reference is not None
                    service, reference_url = reference
                    # Its one process's CPU shows in the gateway's column.
                    ref_parts = {"gateway": service.pid}
                    r = measure_against_bare(bare, reference_url, name, c, args, 0, ref_parts)
                else:
                    target = url
                    if SCENARIOS[name].script == GRPC:
                        target = args.grpc_target or bench.grpc_target
                    r = measure_against_bare(bare, target, name, c, args, args.workers, parts)
                print(format_row(r), flush=True)
                results.append(r)
        if not args.url:
            for workers in args.scaling:
                url = bench.start(workers)
                for name in ("uncached", "batch100"):
                    r = measure_against_bare(bare, url, name, 64, args, workers, bench.components())
                    print(format_row(r), flush=True)
                    scaling.append(r)
            gateway_runs = compare_gateways(bench, bare, args)
    finally:
        bench.stop()
        bare[0].stop()
        if reference is not None:
            reference[0].stop()
    comparison = comparison_report(results)
    print("", *comparison, sep="\n", flush=True)

    command = " ".join(["make bench" if not sys.argv[1:] else "python -m bench.run", *sys.argv[1:]])
    report = [
        "## Latest run",
        "",
        f"- When: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Command: `{command}`",
        f"- Machine: {machine()}; wrk (1 thread), gateway, Redis and workers on the same box",
        f"- Worker pool: {args.pool}, one process per worker; each scenario runs {args.seconds} s;"
        " `ratio` is req/s over the bare endpoint's, measured just before the scenario at the"
        f" same concurrency; each row is the median by ratio of {args.repeat} such pair(s),"
        " with the lowest and highest ratio of them in brackets (without a bare endpoint: by"
        " req/s);"
        " CPU µs/req is the CPU time each part used during the scenario over the requests made"
        " (`bare CPU`: the bare endpoint's process in its own run). `v2_*`: the same rows as"
        " uncached, batch100 and batch1000 as one FP64 tensor to `/v2/models/iris/infer`;"
        " `ref_*`: the same bodies to the in-process V2 reference (bench/reference_v2.py:"
        " scikit-learn in one uvicorn process, adaptive batching), its CPU under gateway;"
        " `grpc_*`: the same rows to the gRPC face's ModelInfer (bench/grpc_load.py, in place"
        " of wrk).",
        "",
        HEADER,
        *[format_row(r) for r in results],
        "",
        *comparison,
        "### Scaling (concurrency 64)",
        "",
        HEADER,
        *[format_row(r) for r in scaling],
        "",
        "### Gateways (concurrency 64, processes on one port)",
        "",
        GATEWAYS_HEADER,
        *[format_gateways_row(count, r) for count, r in gateway_runs],
        "",
    ]
    write_latest(args.output, report)
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
