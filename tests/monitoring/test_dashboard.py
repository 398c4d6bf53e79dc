"""The Grafana dashboard and provisioning, checked statically (Grafana cannot run here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from scripts.prometheus_api import DASHBOARD, dashboard_queries, grafana_expr
from tests.monitoring.promtool import promtool

GRAFANA = DASHBOARD.parent.parent
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "datasource.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "dashboards.yml"
# What the issue asks the dashboard to show, and the panel that shows it.
REQUIRED_PANELS = {
    "request rate by route and status": "Request rate by route and status",
    "error ratio": "Error ratio",
    "latency p50/p95/p99": "POST /predict latency p50 / p95 / p99",
    "cache hit ratio": "Cache hit ratio",
    "predictions by class": "Predictions by class",
    "queue length": "Queue length",
    "task rate by outcome": "Task rate by outcome",
    "task runtime p95": "Task runtime p95",
    "inference time": "Model inference time",
    "items per task": "Items and jobs per task",
    "workers up": "Gateways and workers up",
    "sync-wait timeouts": "Sync-wait timeouts",
}


def _dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return dashboard


def _datasource() -> dict[str, Any]:
    (datasource,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    return dict(datasource)


def test_datasource_is_the_compose_prometheus() -> None:
    datasource = _datasource()
    assert datasource["type"] == "prometheus"
    assert datasource["uid"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"


def test_dashboard_provider_reads_the_mounted_directory() -> None:
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_has_a_uid_a_title_and_no_fixed_id() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "irisq"
    assert dashboard["title"]
    # A provisioned dashboard must not carry a database id.
    assert dashboard.get("id") is None


def test_panel_ids_are_unique() -> None:
    ids = [panel["id"] for panel in _dashboard()["panels"]]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids))


def test_every_panel_queries_the_provisioned_datasource() -> None:
    uid = _datasource()["uid"]
    # A row only heads the panels below it: it queries nothing.
    for panel in (p for p in _dashboard()["panels"] if p["type"] != "row"):
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        assert panel["targets"], f"{panel['title']} has no targets"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_panels_fit_the_grid_without_overlapping() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _dashboard()["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] < pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_the_issue_panels_are_all_there() -> None:
    titles = {panel["title"] for panel in _dashboard()["panels"]}
    assert set(REQUIRED_PANELS.values()) <= titles


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query, as a recording rule, without a running Prometheus."""
    rules = [
        {"record": f"dashboard:panel_{q.panel_id}_{q.ref_id}", "expr": grafana_expr(q.expr, "5m")}
        for q in dashboard_queries()
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in promtool("check", "rules", path)


def test_nothing_secret_in_the_monitoring_files() -> None:
    """Grafana's admin password comes from GF_SECURITY_ADMIN_PASSWORD only."""
    secret = re.compile(r"(password|secret|token)\s*[:=]\s*\S", re.IGNORECASE)
    for path in GRAFANA.parent.rglob("*"):
        if path.is_file():
            assert not secret.search(path.read_text()), path
