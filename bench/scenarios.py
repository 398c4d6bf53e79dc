"""The bench's scenarios: what each one sends, to which server, and the tool that sends it.

wrk with a script of wrk/ for the HTTP scenarios; bench/grpc_load.py for the gRPC face's.
Both print the same line of figures (wrk/common.lua), read here into a dict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

WRK = Path(__file__).parent / "wrk"


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    args: tuple[str, ...] = ()
    items: int = 1
    # The bare endpoint's scenario this one is compared with: the same body size. None: no
    # bare endpoint parses its body (the V2 face's, the reference's).
    reference: str | None = "bare"
    # What it drives: irisq's gateway, the bare endpoint, or the in-process V2 reference.
    server: Literal["irisq", "bare", "reference"] = "irisq"


def _v2(name: str, rows: int, server: Literal["irisq", "reference"]) -> Scenario:
    """POST /v2/models/iris/infer with ROWS random rows, one FP64 tensor (wrk/v2.lua)."""
    return Scenario(name, "v2.lua", (str(rows),), items=rows, reference=None, server=server)


# Not a wrk script: the gRPC face's ModelInfer, driven by bench/grpc_load.py.
GRPC = "grpc"


def _grpc(name: str, rows: int) -> Scenario:
    """ModelInfer with ROWS random rows, one FP64 tensor in raw_input_contents."""
    return Scenario(name, GRPC, (str(rows),), items=rows, reference=None)


SCENARIOS = {
    "bare": Scenario("bare", "post.lua", ("1", "0"), server="bare"),
    "bare100": Scenario("bare100", "post.lua", ("100", "1"), items=100, server="bare"),
    "bare1000": Scenario("bare1000", "post.lua", ("1000", "1"), items=1000, server="bare"),
    "cached": Scenario("cached", "post.lua", ("1", "0")),
    "uncached": Scenario("uncached", "post.lua", ("1", "1")),
    "async": Scenario("async", "async.lua"),
    "async100": Scenario("async100", "async.lua", ("100",), items=100),
    "batch100": Scenario("batch100", "post.lua", ("100", "1"), items=100, reference="bare100"),
    "batch1000": Scenario("batch1000", "post.lua", ("1000", "1"), items=1000, reference="bare1000"),
    # The same rows as uncached, batch100 and batch1000 on the V2 face, and to the reference.
    "v2_uncached": _v2("v2_uncached", 1, "irisq"),
    "v2_batch100": _v2("v2_batch100", 100, "irisq"),
    "v2_batch1000": _v2("v2_batch1000", 1000, "irisq"),
    "ref_uncached": _v2("ref_uncached", 1, "reference"),
    "ref_batch100": _v2("ref_batch100", 100, "reference"),
    "ref_batch1000": _v2("ref_batch1000", 1000, "reference"),
    "grpc_uncached": _grpc("grpc_uncached", 1),
    "grpc_batch100": _grpc("grpc_batch100", 100),
    "grpc_batch1000": _grpc("grpc_batch1000", 1000),
}
# Each reference scenario runs just before irisq's on the same rows: the machine drifts.
DEFAULT_SCENARIOS = [
    "cached", "ref_uncached", "uncached", "v2_uncached", "async",
    "ref_batch100", "batch100", "v2_batch100", "grpc_batch100",
    "ref_batch1000", "batch1000", "v2_batch1000", "grpc_batch1000",
]  # fmt: skip


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


def run_grpc(target: str, scenario: Scenario, concurrency: int, seconds: int) -> dict[str, int]:
    """bench/grpc_load.py in a process of its own, as wrk is: the same figures."""
    argv = [sys.executable, "-m", "bench.grpc_load", "--target", target,
            "--rows", scenario.args[0], "--concurrency", str(concurrency),
            "--seconds", str(seconds)]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("IRISQ_BENCH "))
    figures: dict[str, int] = json.loads(line.removeprefix("IRISQ_BENCH "))
    return figures


def run_load(url: str, scenario: Scenario, concurrency: int, seconds: int) -> dict[str, int]:
    """The scenario's figures; `url` is the gRPC face's host:port for a gRPC scenario."""
    load = run_grpc if scenario.script == GRPC else run_wrk
    return load(url, scenario, concurrency, seconds)
