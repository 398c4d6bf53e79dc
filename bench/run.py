"""`make bench`: drive the stack with wrk and print req/s, items/s, p50, p99 and errors.

Starts the local stack (Redis, workers, gateway) and the bare reference endpoint, or targets
`--url`. Writes the figures to docs/performance.md with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scripts.stack import ROOT, LocalStack, Service, free_port, http_ok, wait_until

WRK = Path(__file__).parent / "wrk"


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    args: tuple[str, ...] = ()
    items: int = 1


SCENARIOS = {
    "bare": Scenario("bare", "post.lua", ("1", "0")),
    "cached": Scenario("cached", "post.lua", ("1", "0")),
    "uncached": Scenario("uncached", "post.lua", ("1", "1")),
    "async": Scenario("async", "async.lua"),
    "batch100": Scenario("batch100", "post.lua", ("100", "1"), items=100),
}


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

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds


def run_wrk(url: str, scenario: Scenario, concurrency: int, seconds: int) -> dict[str, int]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write((WRK / scenario.script).read_text() + "\n" + (WRK / "common.lua").read_text())
    try:
        argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s",
                "-s", script.name, url, "--", *scenario.args]  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in out.splitlines() if line.startswith("IRISQ_BENCH "))
    figures: dict[str, int] = json.loads(line.removeprefix("IRISQ_BENCH "))
    return figures


def measure(url: str, name: str, concurrency: int, seconds: int, workers: int) -> Result:
    scenario = SCENARIOS[name]
    f = run_wrk(url, scenario, concurrency, seconds)
    items = f["items"] if name != "bare" else f["requests"] * scenario.items
    return Result(
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


def format_row(r: Result, bare: dict[int, Result]) -> str:
    ratio = r.rps / bare[r.concurrency].rps if r.concurrency in bare else float("nan")
    return (
        f"| {r.scenario} | {r.concurrency} | {r.workers} | {r.rps:,.0f} | {r.items_per_s:,.0f} "
        f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {ratio:.2f} |"
    )


HEADER = (
    "| scenario | conc. | workers | req/s | items/s | p50 ms | p99 ms | errors | ratio to bare |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    python = platform.python_version()
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.platform()}, Python {python}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="benchmark a running gateway instead of starting one")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument(
        "--scenarios", nargs="+", default=["cached", "uncached", "async", "batch100"]
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--scaling",
        type=int,
        nargs="*",
        default=[1, 2, 4],
        help="worker counts for the scaling runs (uncached, batch100 at c64)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")

    workdir = Path(tempfile.mkdtemp(prefix="irisq-bench-"))
    stack = LocalStack(workdir=workdir)
    bare_service, bare_url = start_bare(workdir)
    results: list[Result] = []
    scaling: list[Result] = []
    try:

        def start_stack(workers: int) -> str:
            stack.stop_all()
            stack.start_redis()
            stack.train_if_missing()
            for _ in range(workers):
                stack.start_worker()
            stack.start_gateway(MAX_TASKS_IN_FLIGHT=str(workers), LOG_LEVEL="WARNING")
            # Warm up: the model announced, the cache entry of the cached scenario present.
            wait_until(lambda: http_ok(f"{stack.base_url}/ready"), 30, "ready")
            run_wrk(stack.base_url, SCENARIOS["cached"], 4, 1)
            return stack.base_url

        url = args.url or start_stack(args.workers)
        bare: dict[int, Result] = {}
        print(HEADER, flush=True)
        for c in args.concurrency:
            bare[c] = measure(bare_url, "bare", c, args.seconds, 0)
            print(format_row(bare[c], bare), flush=True)
            results.append(bare[c])
            for name in args.scenarios:
                r = measure(url, name, c, args.seconds, args.workers)
                print(format_row(r, bare), flush=True)
                results.append(r)
        if not args.url:
            for workers in args.scaling:
                url = start_stack(workers)
                for name in ("uncached", "batch100"):
                    r = measure(url, name, 64, args.seconds, workers)
                    print(format_row(r, bare), flush=True)
                    scaling.append(r)
    finally:
        stack.stop_all()
        bare_service.stop()

    command = " ".join(["make bench" if not sys.argv[1:] else "python -m bench.run", *sys.argv[1:]])
    report = [
        "## Latest run",
        "",
        f"- When: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Command: `{command}`",
        f"- Machine: {machine()}; wrk (1 thread), gateway, Redis and workers on the same box",
        f"- Each scenario runs {args.seconds} s; `ratio` is req/s over the bare endpoint's at "
        "the same concurrency, in the same run.",
        "",
        HEADER,
        *[format_row(r, bare) for r in results],
        "",
        "### Scaling (concurrency 64)",
        "",
        HEADER,
        *[format_row(r, bare) for r in scaling],
        "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    marker = "<!-- bench:latest -->"
    text = args.output.read_text() if args.output.exists() else f"# Performance\n\n{marker}\n"
    head = text.split(marker)[0]
    args.output.write_text(head + marker + "\n" + "\n".join(report))
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
