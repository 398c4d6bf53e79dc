"""Draw the Grafana dashboard's queries from a live Prometheus into one PNG.

Grafana cannot run on every machine; this plots the very queries of
monitoring/grafana/dashboards/irisq.json, panel by panel, as Grafana would chart them.

    python -m scripts.plot_dashboard --prometheus http://127.0.0.1:9090 --minutes 15
    python -m scripts.plot_dashboard --demo 180    # own stack + traffic, then the plot

--demo starts a private stack (Redis, two workers, gateway, exporter, Prometheus), sends
mixed traffic for the given seconds (one worker leaves and another joins midway), and plots.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from scripts.monitoring import start_exporter, start_prometheus
from scripts.prometheus_api import (
    DASHBOARD,
    PrometheusAPI,
    grafana_expr,
    legend,
)
from scripts.stack import ROOT, LocalStack, Service, free_port, wait_until

log = logging.getLogger("irisq.plot")

DEFAULT_OUT = ROOT / "docs" / "img" / "dashboard.png"
# Typical flowers of each species (cm): the demo's requests scatter around them.
SPECIES = ((5.0, 3.4, 1.5, 0.25), (5.9, 2.8, 4.3, 1.3), (6.6, 3.0, 5.6, 2.0))


@dataclass
class Panel:
    title: str
    unit: str
    kind: str
    queries: list[tuple[str, str]]


def _panels() -> list[Panel]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        Panel(
            p["title"],
            p.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
            p["type"],
            [(t["expr"], t.get("legendFormat", "")) for t in p["targets"]],
        )
        for p in dashboard["panels"]
    ]


def plot(
    prometheus: PrometheusAPI,
    start: float,
    end: float,
    out: Path,
    rate_interval: str = "1m",
    step: float | None = None,
) -> Path:
    """One subplot per panel, the range [start, end]; returns the PNG's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    panels = _panels()
    charts = [p for p in panels if p.kind != "stat"]
    stats = [p for p in panels if p.kind == "stat"]
    step = step or max(1.0, (end - start) / 300)
    rows = math.ceil(len(charts) / 2)
    fig, axes = plt.subplots(rows, 2, figsize=(15, 3.1 * rows + 1), squeeze=False)
    header = []
    for panel in stats:
        for expr, template in panel.queries:
            for series in prometheus.query(grafana_expr(expr, rate_interval)):
                header.append(f"{panel.title}: {legend(template, series['metric'])}")
    span = f"{datetime.fromtimestamp(start):%Y-%m-%d %H:%M} - {datetime.fromtimestamp(end):%H:%M}"
    fig.suptitle(f"irisq dashboard, {span}\n" + "   ".join(header), fontsize=12)

    for ax, panel in zip(axes.flat, charts, strict=False):
        percent = panel.unit == "percentunit"
        for expr, template in panel.queries:
            query = grafana_expr(expr, rate_interval)
            for series in prometheus.query_range(query, start, end, step):
                times = [datetime.fromtimestamp(float(t)) for t, _ in series["values"]]
                values = [float(v) * (100 if percent else 1) for _, v in series["values"]]
                ax.plot(times, values, linewidth=1.2, label=legend(template, series["metric"]))
        ax.set_title(panel.title, fontsize=10, loc="left")
        ax.set_ylabel(
            {"percentunit": "%", "reqps": "req/s", "ops": "/s", "s": "seconds"}.get(panel.unit, "")
        )
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        # A little below zero, so that a series at zero (no errors, no timeouts) shows.
        top = max(ax.get_ylim()[1], 1e-9)
        ax.set_ylim(-0.03 * top, top)
        if ax.lines:
            ax.legend(fontsize=7, loc="upper left", ncol=2)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    for ax in list(axes.flat)[len(charts) :]:
        ax.set_visible(False)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


# --- --demo: a private stack and traffic -----------------------------------------------------


def _flower(rng: random.Random) -> dict[str, float]:
    centre = rng.choice(SPECIES)
    # One decimal, as people measure: the same flowers come back, and hit the cache.
    values = [round(max(0.1, rng.gauss(c, 0.25)), 1) for c in centre]
    return dict(
        zip(("sepal_length", "sepal_width", "petal_length", "petal_width"), values, strict=True)
    )


def _client_loop(base_url: str, until: float, seed: int, started: float) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base_url, timeout=30) as http:
        while time.monotonic() < until:
            # The load swells and ebbs over two minutes.
            phase = (time.monotonic() - started) / 120 * 2 * math.pi
            time.sleep(rng.expovariate(4 + 3 * math.sin(phase)))
            items = [_flower(rng) for _ in range(rng.choice((1, 1, 1, 2, 5, 20)))]
            roll = rng.random()
            try:
                if roll < 0.03:
                    items[0]["petal_width"] = -1.0  # a client error (422)
                    http.post("/predict", json={"items": items})
                elif roll < 0.13:
                    accepted = http.post("/predict?mode=async", json={"items": items}).json()
                    if "status_url" in accepted:
                        time.sleep(0.05)
                        http.get(accepted["status_url"])
                else:
                    http.post("/predict", json={"items": items})
            except httpx.HTTPError as exc:
                log.warning("request failed: %s", exc)


def _start_worker(stack: LocalStack, name: str) -> Service:
    # A host name of its own (after "@"), as each compose replica has: the exporter counts hosts.
    return stack.start_worker(
        WORKER_METRICS_PORT=str(free_port()), WORKER_NAME=f"irisq@demo-{name}"
    )


def demo(seconds: float, out: Path, clients: int = 4) -> Path:
    with tempfile.TemporaryDirectory(prefix="irisq-demo-") as tmp:
        stack = LocalStack(workdir=Path(tmp), model_dir=ROOT / "model")
        try:
            stack.train_if_missing()
            stack.start_redis()
            exporter_port, prometheus_port = free_port(), free_port()
            start_exporter(stack, exporter_port)
            first = _start_worker(stack, "w1")
            _start_worker(stack, "w2")
            stack.start_gateway()
            start_prometheus(stack, prometheus_port, exporter_port, "2s", "5s")
            prometheus = PrometheusAPI(f"http://127.0.0.1:{prometheus_port}")
            wait_until(lambda: prometheus.value('sum(up{job="worker"})') == 2, 30, "targets")

            started = time.monotonic()
            until = started + seconds
            wall_start = time.time()
            threads = [
                threading.Thread(target=_client_loop, args=(stack.base_url, until, n, started))
                for n in range(clients)
            ]
            for thread in threads:
                thread.start()
            # Worker churn: one leaves at half time, a new one joins at three quarters.
            time.sleep(seconds / 2)
            stack.stop(first)
            time.sleep(max(0.0, started + 0.75 * seconds - time.monotonic()))
            _start_worker(stack, "w3")
            for thread in threads:
                thread.join(timeout=seconds + 60)
            time.sleep(6)  # the exporter's last scrape
            path = plot(prometheus, wall_start, time.time(), out, rate_interval="20s", step=2)
            prometheus.close()
            return path
        finally:
            stack.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--minutes", type=float, default=15, help="time range to plot")
    parser.add_argument("--rate-interval", default="1m", help="what $__rate_interval becomes")
    parser.add_argument("--demo", type=float, metavar="SECONDS", help="own stack and traffic")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.demo:
        path = demo(args.demo, args.out)
    else:
        prometheus = PrometheusAPI(args.prometheus)
        end = time.time()
        path = plot(prometheus, end - args.minutes * 60, end, args.out, args.rate_interval)
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
