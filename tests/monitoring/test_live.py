"""The monitoring against the live local stack: real workers, exporter and Prometheus.

One scenario per module (it takes ~40 s): a worker fails a task (its job's record was
overwritten, so Redis answers WRONGTYPE), then two other workers take cached, uncached, async
and concurrent traffic. The tests then read everything back through Prometheus' HTTP API.
"""

from __future__ import annotations

import collections
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from contract.jobs import job_key
from scripts.monitoring import ALERT_RULES, PROMETHEUS_CONFIG, start_exporter, start_prometheus
from scripts.prometheus_api import PrometheusAPI, PromQLError, dashboard_queries, grafana_expr
from scripts.stack import LocalStack, free_port, wait_until
from tests.support.items import fresh_item
from tests.support.metrics import scrape, value
from tests.support.tools import system_tool
from worker.model import METADATA_FILE

pytestmark = pytest.mark.slow

RATE_WINDOW = "1m"
# Longer than the 1 s scrape interval: traffic spread over several samples.
SPREAD_SECONDS = 2.5
PREDICT = "/predict"
JOBS = "/jobs/{job_id}"


@dataclass
class Traffic:
    """What the client saw: the counts Prometheus must agree with."""

    statuses: dict[str, collections.Counter[int]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    items_answered: collections.Counter[str] = field(default_factory=collections.Counter)
    classes: collections.Counter[str] = field(default_factory=collections.Counter)
    failed_items: int = 0

    def record(self, route: str, response: httpx.Response) -> httpx.Response:
        self.statuses[route][response.status_code] += 1
        if route == PREDICT and response.status_code == 200:
            self.answered(response.json()["items"])
        return response

    def answered(self, items: list[dict[str, Any]]) -> None:
        """Items answered: in a 200 from /predict, or as a finished async job's."""
        for item in items:
            self.items_answered["cache" if item["cached"] else "model"] += 1
            self.classes[item["prediction"]] += 1


@dataclass
class Observed:
    prometheus: PrometheusAPI
    traffic: Traffic
    model_version: str
    # The gateway's own /metrics once the traffic ended: what Prometheus must come to show.
    gateway: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def gateway_total(self, name: str) -> float:
        return value(self.gateway, name)


def _node_name(name: str) -> str:
    # The exporter labels workers by the part after "@" (the host in compose): one each here.
    return f"irisq@{name}-{os.getpid()}"


def _send_traffic(http: httpx.Client, traffic: Traffic) -> None:
    def predict(items: list[dict[str, float]], **kwargs: Any) -> httpx.Response:
        return traffic.record(PREDICT, http.post(PREDICT, json={"items": items}, **kwargs))

    uncached = [fresh_item() for _ in range(3)]
    for item in uncached:
        assert predict([item]).status_code == 200
    for item in uncached:  # now from the cache
        assert predict([item]).json()["items"][0]["cached"] is True
    mixed = predict([uncached[0], fresh_item()]).json()["items"]
    assert [i["cached"] for i in mixed] == [True, False]

    for _ in range(2):
        accepted = predict([fresh_item()], headers={"Prefer": "respond-async"})
        assert accepted.status_code == 202
        url = accepted.json()["status_url"]
        deadline = time.monotonic() + 30
        while (job := traffic.record(JOBS, http.get(url)).json())["status"] != "done":
            assert time.monotonic() < deadline, "async job not done after 30 s"
            time.sleep(0.05)
        traffic.answered(job["items"])
    assert traffic.record(JOBS, http.get("/jobs/no-such-job")).status_code == 404
    bad = {**fresh_item(), "petal_width": -1}
    assert predict([bad]).status_code == 422

    # Concurrent requests: the gateway coalesces their misses into fewer tasks. Two bursts
    # a few scrapes apart, so that every rate on the dashboard sees its counters move.
    for _ in range(2):
        time.sleep(SPREAD_SECONDS)
        batches = [[fresh_item() for _ in range(1 + n % 3)] for n in range(12)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda items: predict(items).status_code, batches))
        assert statuses == [200] * len(batches)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Observed]:
    system_tool("prometheus", "monitoring-deps")
    system_tool("redis-server", "system-deps")
    workdir = tmp_path_factory.mktemp("monitored")
    stack = LocalStack(workdir=workdir / "stack", model_dir=model_dir)
    traffic = Traffic()
    prometheus: PrometheusAPI | None = None
    try:
        stack.start_redis()
        exporter_port, prometheus_port = free_port(), free_port()
        start_exporter(stack, exporter_port)
        stack.start_gateway()
        start_prometheus(
            stack, prometheus_port, exporter_port, scrape_interval="1s", exporter_interval="5s"
        )
        prometheus = PrometheusAPI(f"http://127.0.0.1:{prometheus_port}")

        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            # A job whose record is overwritten before a worker takes its task: the task fails
            # on Redis' WRONGTYPE answer.
            traffic.failed_items = 1
            failing = http.post(f"{PREDICT}?mode=async", json={"items": [fresh_item()]})
            assert traffic.record(PREDICT, failing).status_code == 202, failing.text
            with redis.Redis.from_url(str(stack.redis_url)) as client:
                client.delete(job_key(failing.json()["job_id"]))
                client.set(job_key(failing.json()["job_id"]), "not a job record")
            broken = stack.start_worker(
                WORKER_METRICS_PORT=str(free_port()), WORKER_NAME=_node_name("broken")
            )
            # The worker announces itself in the folder Prometheus watches, which applies
            # discovery changes every 5 s: wait until it scrapes.
            wait_until(lambda: _workers_scraped(prometheus, 1), 20, "Prometheus to find the worker")
            # Prometheus must have the broken worker's count before the worker goes.
            failures = 'sum(irisq_worker_tasks_total{outcome="failure"})'
            wait_until(lambda: prometheus.value(failures) == 1, 15, "the failure in Prometheus")
            stack.stop(broken)

            for n in range(2):
                stack.start_worker(
                    wait_ready=False,
                    WORKER_METRICS_PORT=str(free_port()),
                    WORKER_NAME=_node_name(f"good{n}"),
                )
            workers = [s for s in stack.services if s.name.startswith("worker")]
            wait_until(lambda: all("ready." in w.log() for w in workers), 30, "two workers")
            wait_until(lambda: _workers_scraped(prometheus, 2), 20, "Prometheus to find workers")
            _send_traffic(http, traffic)
            gateway = scrape(f"{stack.base_url}/metrics")

        version = json.loads((model_dir / METADATA_FILE).read_text())["version"]
        yield Observed(prometheus, traffic, version, gateway)
    finally:
        if prometheus is not None:
            prometheus.close()
        stack.stop_all()


def _workers_scraped(prometheus: PrometheusAPI, count: int) -> bool:
    workers = [t for t in prometheus.targets() if t["labels"]["job"] == "worker"]
    return len(workers) == count and all(t["health"] == "up" for t in workers)


def eventually(read: Callable[[], float], expected: float, timeout: float = 25) -> float:
    """The value `read` gives once it equals `expected`, or the last one at the deadline."""
    deadline = time.monotonic() + timeout
    current = read()
    while current != expected and time.monotonic() < deadline:
        time.sleep(0.5)
        current = read()
    return current


def _alert_exprs() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERT_RULES.read_text())
    return [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"] if "alert" in r]


def test_every_dashboard_and_alert_expression_parses(observed: Observed) -> None:
    exprs = [(f"panel {q.panel_id} {q.panel} {q.ref_id}", q.expr) for q in dashboard_queries()]
    exprs += [(f"alert {name}", expr) for name, expr in _alert_exprs()]
    refused = {}
    for name, expr in exprs:
        try:
            observed.prometheus.query(grafana_expr(expr, RATE_WINDOW))
        except PromQLError as exc:
            refused[name] = str(exc)
    assert refused == {}


def test_every_dashboard_panel_shows_data(observed: Observed) -> None:
    """Each query returns a series, and each panel at least one number (not NaN) to draw."""

    def without_data() -> list[str]:
        missing = []
        by_panel: dict[str, list[float]] = collections.defaultdict(list)
        for q in dashboard_queries():
            series = observed.prometheus.query(grafana_expr(q.expr, RATE_WINDOW))
            if not series:
                missing.append(f"{q.panel} / {q.legend}: no series")
            by_panel[q.panel] += [float(s["value"][1]) for s in series]
        missing += [f"{p}: only NaN" for p, v in by_panel.items() if not any(map(math.isfinite, v))]
        return missing

    # The exporter's series need two of its (5 s) scrapes before a rate has a value.
    missing = without_data()
    deadline = time.monotonic() + 30
    while missing and time.monotonic() < deadline:
        time.sleep(1)
        missing = without_data()
    assert missing == []


def test_alert_rules_are_loaded_and_evaluate_cleanly(observed: Observed) -> None:
    names = {name for name, _ in _alert_exprs()}
    deadline = time.monotonic() + 10
    rules = observed.prometheus.rules()
    while any(r.get("health") != "ok" for r in rules) and time.monotonic() < deadline:
        time.sleep(0.5)
        rules = observed.prometheus.rules()
    assert {r["name"] for r in rules if r["type"] == "alerting"} == names
    assert {r["name"]: r.get("lastError", "") for r in rules if r["health"] != "ok"} == {}


def test_requests_counted_equal_requests_made(observed: Observed) -> None:
    prom, traffic = observed.prometheus, observed.traffic
    for route, statuses in traffic.statuses.items():
        for status, count in statuses.items():
            expr = f'sum(http_requests_total{{route="{route}", status="{status}"}})'
            assert eventually(lambda e=expr: prom.value(e), count) == count, (route, status)
        expr = f'sum(http_requests_total{{route="{route}"}})'
        assert prom.value(expr) == sum(statuses.values()), route


def test_answered_items_counted_by_source_and_class(observed: Observed) -> None:
    prom, traffic = observed.prometheus, observed.traffic
    for source, count in traffic.items_answered.items():
        expr = f'sum(irisq_predictions_total{{source="{source}"}})'
        assert eventually(lambda e=expr: prom.value(e), count) == count, source
    for prediction, count in traffic.classes.items():
        expr = f'sum(irisq_predictions_by_class_total{{prediction="{prediction}"}})'
        assert eventually(lambda e=expr: prom.value(e), count) == count, prediction
    # Every item this scenario found in the cache was in a request answered 200.
    cached = traffic.items_answered["cache"]
    assert eventually(lambda: prom.value("sum(irisq_cache_hits_total)"), cached) == cached
    misses = observed.gateway_total("irisq_cache_misses_total")
    assert eventually(lambda: prom.value("sum(irisq_cache_misses_total)"), misses) == misses


def _worker_total(prom: PrometheusAPI, metric: str, selector: str = "") -> float:
    # max_over_time: the broken worker is gone, but its last scraped count still counts.
    return prom.value(f"sum(max_over_time({metric}{{{selector}}}[10m]))")


def test_tasks_counted_by_workers_and_exporter_equal_tasks_sent(observed: Observed) -> None:
    prom = observed.prometheus
    published = observed.gateway_total("irisq_tasks_published_total")
    assert published >= 1 + 3 + 1 + 2  # failing, uncached, mixed, async; the bursts coalesce
    assert eventually(lambda: prom.value("sum(irisq_tasks_published_total)"), published) == (
        published
    )
    assert eventually(lambda: prom.value("sum(celery_task_sent_total)"), published) == published

    succeeded = published - 1
    worker_ok = eventually(
        lambda: _worker_total(prom, "irisq_worker_tasks_total", 'outcome="success"'), succeeded
    )
    assert worker_ok == succeeded
    assert _worker_total(prom, "irisq_worker_tasks_total", 'outcome="failure"') == 1
    exporter_ok = eventually(lambda: prom.value("sum(celery_task_succeeded_total)"), succeeded)
    assert exporter_ok == succeeded
    assert prom.value("sum(celery_task_failed_total)") == 1
    assert _worker_total(prom, "irisq_worker_inference_seconds_count") == succeeded

    # Each successful task's jobs and items, as the gateway counted them when it sent them.
    jobs = observed.gateway_total("irisq_jobs_submitted_total") - 1
    assert _worker_total(prom, "irisq_worker_jobs_per_task_sum") == jobs
    assert _worker_total(prom, "irisq_worker_jobs_per_task_count") == succeeded
    items = observed.gateway_total("irisq_cache_misses_total") - observed.traffic.failed_items
    assert _worker_total(prom, "irisq_worker_items_per_task_sum") == items


def test_workers_are_discovered_and_report_the_model_version(observed: Observed) -> None:
    prom = observed.prometheus
    up = {t["scrapeUrl"]: t["health"] for t in prom.targets() if t["labels"]["job"] == "worker"}
    assert list(up.values()) == ["up", "up"], up
    # The exporter saw the broken worker leave and the two others arrive.
    assert eventually(lambda: prom.value("sum(celery_worker_up)"), 2) == 2
    assert prom.value("count(celery_worker_up == 0)") == 1
    versions = {s["metric"]["version"] for s in prom.query("irisq_worker_model_info == 1")}
    assert versions == {observed.model_version}


def test_every_exporter_scrape_ends_within_the_compose_timeout(observed: Observed) -> None:
    # Each scrape waits out two Celery inspect broadcasts of 1 s (docs/monitoring.md): the
    # timeout compose gives the job must leave room for that.
    jobs = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    job = next(j for j in jobs if j["job_name"] == "celery-exporter")
    timeout = float(job["scrape_timeout"].removesuffix("s"))
    prom = observed.prometheus
    up = 'up{job="celery-exporter"}'
    assert prom.value(f"count_over_time({up}[10m])") >= 2
    assert prom.value(f"min_over_time({up}[10m])") == 1
    slowest = prom.value('max_over_time(scrape_duration_seconds{job="celery-exporter"}[10m])')
    assert 0 < slowest < timeout, slowest


def test_the_dashboard_picture_is_drawn_from_prometheus(observed: Observed, tmp_path: Path) -> None:
    from scripts.plot_dashboard import plot

    end = time.time()
    out = plot(observed.prometheus, end - 120, end, tmp_path / "dashboard.png", RATE_WINDOW, 2)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 50_000
