"""A small client of Prometheus' HTTP API, and the Grafana variables our dashboard uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from scripts.stack import ROOT

DASHBOARD = ROOT / "monitoring" / "grafana" / "dashboards" / "irisq.json"


class PromQLError(RuntimeError):
    """Prometheus refused a query (a parse error, a bad range, ...)."""


@dataclass(frozen=True)
class PanelQuery:
    panel_id: int
    panel: str
    ref_id: str
    expr: str
    legend: str


def dashboard_queries(path: Path = DASHBOARD) -> list[PanelQuery]:
    """Every query of every panel of a Grafana dashboard, in panel order."""
    dashboard = json.loads(path.read_text())
    return [
        PanelQuery(p["id"], p["title"], t["refId"], t["expr"], t.get("legendFormat", ""))
        for p in dashboard["panels"]
        for t in p.get("targets", [])
    ]


def grafana_expr(expr: str, rate_interval: str) -> str:
    """The query Grafana would send: its range variables replaced by a fixed window."""
    return expr.replace("$__rate_interval", rate_interval).replace("$__interval", rate_interval)


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's legendFormat: `{{label}}` replaced by the series' label value."""
    text = template
    for key, value in labels.items():
        text = text.replace("{{" + key + "}}", value)
    return text or json.dumps(labels)


class PrometheusAPI:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _get(self, path: str, **params: str | float) -> Any:
        response = self.http.get(path, params=params)
        body = response.json()
        if body.get("status") != "success":
            raise PromQLError(f"{body.get('errorType')}: {body.get('error')} ({params})")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's series: [{"metric": {...}, "value": [t, "v"]}, ...]."""
        data = self._get("/api/v1/query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float:
        """The sum of an instant query's values; 0 when it returns no series."""
        return sum(float(series["value"][1]) for series in self.query(expr))

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query_range", query=expr, start=start, end=end, step=step)
        result: list[dict[str, Any]] = data["result"]
        return result

    def rules(self) -> list[dict[str, Any]]:
        groups = self._get("/api/v1/rules")["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def targets(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self._get("/api/v1/targets")["activeTargets"]
        return active
