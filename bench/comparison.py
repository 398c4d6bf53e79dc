"""irisq's two faces against the in-process reference (bench/reference_v2.py), side by side.

The `ref_*` scenarios drive the reference with the V2 bodies irisq's `v2_*` scenarios send;
`/predict`'s and the gRPC face's (`grpc_*`) scenarios carry the same rows. This module starts
the reference, pairs the rows of a run by request size and concurrency, and judges the target
(a reported row, not a test).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scripts.stack import Service, free_port, http_ok, wait_until

if TYPE_CHECKING:
    from bench.run import Result

# The reference's scenario: its rows a request, then irisq's scenarios on the same rows,
# /predict's, the V2 REST face's and the gRPC face's.
PAIRS = {
    "ref_uncached": (1, "uncached", "v2_uncached", "grpc_uncached"),
    "ref_batch100": (100, "batch100", "v2_batch100", "grpc_batch100"),
    "ref_batch1000": (1000, "batch1000", "v2_batch1000", "grpc_batch1000"),
}
FACES = ("/predict", "V2", "gRPC")
# The target: irisq's rows/s at least this many times the reference's, on both HTTP faces,
# with no errors, for these request sizes (the reference's scenarios) and concurrencies.
TARGET_FACES = ("/predict", "V2")
TARGET_RATIO = 1.2
TARGET_SCENARIOS = ("ref_batch100", "ref_batch1000")
TARGET_CONCURRENCY = (8, 64)
TARGET = (
    f"irisq's rows/s ≥ {TARGET_RATIO} times the reference's on 100- and 1,000-row requests at "
    f"c{' and c'.join(map(str, TARGET_CONCURRENCY))}, on both faces (/predict, V2 REST), "
    "with zero errors"
)


def start_reference(workdir: Path, model_dir: Path) -> tuple[Service, str]:
    """The reference server on a free port, serving `model_dir`'s model."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.reference_v2"]
    argv += ["--model-dir", str(model_dir), "--port", str(port)]
    service = Service("reference", argv, dict(os.environ), workdir / "logs" / "reference.log")
    service.start()
    url = f"http://127.0.0.1:{port}"
    try:
        ready = f"{url}/v2/health/ready"
        wait_until(lambda: http_ok(ready) or not service.alive(), 30, "reference V2 server")
    except TimeoutError:
        service.stop()
        raise
    if not service.alive():
        raise RuntimeError(f"the reference V2 server exited:\n{service.output()[-3000:]}")
    return service, url


@dataclass(frozen=True)
class Comparison:
    """The reference's row and irisq's on the same rows at the same concurrency."""

    reference: Result
    # By face (FACES); None for a face not measured in the run.
    faces: dict[str, Result | None]

    @property
    def targeted(self) -> bool:
        return (
            self.reference.scenario in TARGET_SCENARIOS
            and self.reference.concurrency in TARGET_CONCURRENCY
        )

    def ratio(self, face: str) -> float | None:
        result = self.faces[face]
        if result is None or not self.reference.items_per_s:
            return None
        return result.items_per_s / self.reference.items_per_s

    @property
    def errors(self) -> int:
        """The errors of the reference's run and of the target's faces' runs."""
        measured = [self.faces[face] for face in TARGET_FACES]
        return sum(r.errors for r in [self.reference, *measured] if r is not None)

    def verdict(self) -> str:
        """The target's row: yes, no (and why), or not measured; "—" outside the target."""
        if not self.targeted:
            return "—"
        ratios = {face: self.ratio(face) for face in TARGET_FACES}
        missing = [face for face, ratio in ratios.items() if ratio is None]
        if missing:
            return f"not measured: {', '.join(missing)}"
        why = [
            f"{face} below {TARGET_RATIO}"
            for face, ratio in ratios.items()
            if ratio is not None and ratio < TARGET_RATIO
        ]
        if self.errors:
            why.append(f"{self.errors} errors")
        return "yes" if not why else f"no: {', '.join(why)}"


def comparisons(results: list[Result]) -> list[Comparison]:
    """Every reference row of the run with irisq's rows of the same size and concurrency."""
    found = []
    for reference in results:
        if reference.scenario not in PAIRS:
            continue
        by_name = {r.scenario: r for r in results if r.concurrency == reference.concurrency}
        names = PAIRS[reference.scenario][1:]
        faces = {face: by_name.get(name) for face, name in zip(FACES, names, strict=True)}
        found.append(Comparison(reference, faces))
    return found


COMPARISON_HEADER = (
    "| rows a request | conc. | reference rows/s | /predict rows/s | /predict ÷ ref "
    f"| V2 rows/s | V2 ÷ ref | errors | target: ≥ {TARGET_RATIO} on both "
    "| gRPC rows/s | gRPC ÷ ref |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


def _rows_per_s(result: Result | None) -> str:
    return f"{result.items_per_s:,.0f}" if result is not None else "-"


def _ratio(ratio: float | None) -> str:
    return f"{ratio:.2f}" if ratio is not None else "-"


def format_comparison(c: Comparison) -> str:
    rows = PAIRS[c.reference.scenario][0]
    predict, v2, grpc = (c.faces[face] for face in FACES)
    grpc_errors = f" ({grpc.errors} errors)" if grpc is not None and grpc.errors else ""
    return (
        f"| {rows:,} | {c.reference.concurrency} | {_rows_per_s(c.reference)} "
        f"| {_rows_per_s(predict)} | {_ratio(c.ratio('/predict'))} "
        f"| {_rows_per_s(v2)} | {_ratio(c.ratio('V2'))} | {c.errors} | {c.verdict()} "
        f"| {_rows_per_s(grpc)} | {_ratio(c.ratio('gRPC'))}{grpc_errors} |"
    )


def target_summary(found: list[Comparison]) -> str:
    """One line: the target, and how many of its cases this run met."""
    targeted = [c for c in found if c.targeted]
    cases = len(TARGET_SCENARIOS) * len(TARGET_CONCURRENCY)
    met = sum(c.verdict() == "yes" for c in targeted)
    state = "met" if met == cases else f"not met: {met} of {cases} cases"
    if len(targeted) < cases:
        state += f" ({cases - len(targeted)} not measured)"
    return f"Target: {TARGET}: {state}."


def comparison_report(results: list[Result]) -> list[str]:
    """The section of the latest run; empty when the run measured no reference."""
    found = comparisons(results)
    if not found:
        return []
    return [
        "### Against the in-process reference (concurrency as above)",
        "",
        COMPARISON_HEADER,
        *[format_comparison(c) for c in found],
        "",
        target_summary(found),
        "",
    ]
