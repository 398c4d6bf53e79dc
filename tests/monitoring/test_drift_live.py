"""The drift rules in a real Prometheus, scraping counts that DriftRecorder made.

Prometheus runs the local stack's configuration (scripts/monitoring.py: the compose jobs,
scraped every second, with alerts.yml's rules evaluated every second). This test process is
its one worker target: it serves worker.metrics.REGISTRY, as a solo worker does, found by
file-based discovery as workers are. Two versions with iris's deciles take traffic side by
side: one iris's own rows, the other the same rows with petal width tripled. The 5-minute
rules then need only a few scrapes: increase() reads the counts that arrived between them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import yaml
from prometheus_client import start_http_server
from sklearn.datasets import load_iris

from contract.http import FEATURES
from scripts.monitoring import ALERT_RULES, start_prometheus
from scripts.prometheus_api import PrometheusAPI
from scripts.stack import LocalStack, free_port, wait_until
from tests.support.model_metadata import model_metadata
from tests.support.tools import system_tool
from worker import discovery, metrics
from worker.drift import DriftRecorder

pytestmark = pytest.mark.slow

IRIS = load_iris()
DECILES = {
    name: np.quantile(IRIS.data[:, i], np.arange(1, 10) / 10).tolist()
    for i, name in enumerate(FEATURES)
}
STEADY, SHIFTED = "rf-drift-test-steady", "rf-drift-test-shifted"
# Counted after the first scrape of the series, which increase() starts from.
ROUNDS = 3
# Tasks of mixed sizes: both of DriftRecorder's paths (few rows, numpy) count.
TASK_SIZES = (1, 3, 20)


def _shifted_rows() -> np.ndarray:
    rows = IRIS.data.copy()
    rows[:, FEATURES.index("petal_width")] *= 3
    return rows


@dataclass
class Drift:
    prometheus: PrometheusAPI
    recorder: DriftRecorder
    # Inputs fed per version, in all.
    fed: int = 0

    def feed(self) -> None:
        """One round: iris's rows to STEADY, the shifted ones to SHIFTED, in tasks; flushed."""
        for version, rows in ((STEADY, IRIS.data), (SHIFTED, _shifted_rows())):
            metadata = model_metadata(version, deciles=DECILES)
            start, sizes = 0, iter(TASK_SIZES * len(rows))
            while start < len(rows):
                end = start + next(sizes)
                classes = IRIS.target[start:end].astype(np.intp)
                self.recorder.observe(metadata, rows[start:end], classes)
                start = end
        self.recorder.flush()
        self.fed += len(IRIS.data)

    def wait_for_scrape(self) -> None:
        """Until Prometheus holds every input fed so far: a scrape after the last round."""
        for version in (STEADY, SHIFTED):
            expr = f'sum(irisq_worker_feature_bin_total{{model_version="{version}"}})'
            expected = self.fed * len(FEATURES)
            wait_until(
                lambda e=expr, n=expected: abs(self.prometheus.value(e) - n) < 1e-6,
                15,
                f"Prometheus to scrape {expected} inputs of {version}",
            )

    def series(self, expr: str) -> dict[tuple[str, str], float]:
        return {
            (s["metric"]["model_version"], s["metric"]["feature"]): float(s["value"][1])
            for s in self.prometheus.query(expr)
            if s["metric"]["model_version"] in (STEADY, SHIFTED)
        }


@pytest.fixture(scope="module")
def drift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drift]:
    system_tool("prometheus", "monitoring-deps")
    stack = LocalStack(workdir=tmp_path_factory.mktemp("drift") / "stack")
    server, _thread = start_http_server(free_port(), "127.0.0.1", metrics.REGISTRY)
    port = server.server_address[1]
    # Announced before Prometheus starts: its first discovery finds this target.
    target = discovery.announce(stack.worker_targets_dir, "drift-test", "127.0.0.1", port)
    prometheus: PrometheusAPI | None = None
    try:
        prometheus_port = free_port()
        start_prometheus(stack, prometheus_port, exporter_port=None, scrape_interval="1s")
        prometheus = PrometheusAPI(f"http://127.0.0.1:{prometheus_port}")
        observed = Drift(prometheus, DriftRecorder())
        worker_up = 'up{job="worker"} == 1'
        wait_until(lambda: bool(observed.prometheus.query(worker_up)), 20, "the worker target")
        for _ in range(1 + ROUNDS):
            observed.feed()
            observed.wait_for_scrape()
        # The rules run every second; wait for one after the last scrape.
        counted = f"{ROUNDS * len(IRIS.data)}"
        inputs = f'irisq:feature_inputs:5m{{model_version="{SHIFTED}"}} >= {counted}'
        wait_until(lambda: len(observed.series(inputs)) == len(FEATURES), 15, "the rules")
        yield observed
    finally:
        if prometheus is not None:
            prometheus.close()
        stack.stop_all()
        discovery.withdraw(target)
        server.shutdown()
        server.server_close()


def _alert_expr(name: str) -> str:
    groups = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    (expr,) = [r["expr"] for g in groups for r in g["rules"] if r.get("alert") == name]
    return str(expr)


def test_training_like_inputs_keep_every_feature_psi_low(drift: Drift) -> None:
    psi = drift.series("irisq:feature_psi:5m")
    steady = {feature: psi[(STEADY, feature)] for feature in FEATURES}
    assert all(value < 0.1 for value in steady.values()), steady


def test_tripled_petal_width_raises_its_psi_alone(drift: Drift) -> None:
    psi = drift.series("irisq:feature_psi:5m")
    assert psi[(SHIFTED, "petal_width")] > 0.25
    others = {f: psi[(SHIFTED, f)] for f in FEATURES if f != "petal_width"}
    assert all(value < 0.1 for value in others.values()), others


def test_the_drift_alert_expression_selects_the_shifted_feature_only(drift: Drift) -> None:
    """The alert's own expression (its `for: 10m` does not pass within a test)."""
    assert set(drift.series(_alert_expr("IrisqInputDrift"))) == {(SHIFTED, "petal_width")}


def test_class_shares_by_version_are_the_fed_mix(drift: Drift) -> None:
    """Iris's rows are a third of each species; both versions answered them alike."""
    shares = {
        (s["metric"]["model_version"], s["metric"]["class"]): float(s["value"][1])
        for s in drift.prometheus.query("irisq:class_share:5m")
        if s["metric"]["model_version"] in (STEADY, SHIFTED)
    }
    expected = {(v, str(c)): 1 / 3 for v in (STEADY, SHIFTED) for c in IRIS.target_names}
    assert shares == pytest.approx(expected)
