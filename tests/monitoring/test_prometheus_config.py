"""The Prometheus configuration and alert rules, checked by promtool and by their shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scripts.monitoring import ALERT_RULES, PROMETHEUS_CONFIG, local_config
from scripts.stack import LocalStack
from tests.monitoring.promtool import promtool

ALERT_TESTS = ALERT_RULES.parent / "alerts_test.yml"
REQUIRED_ALERTS = {
    "GatewayDown",
    "GatewayHighErrorRatio",
    "GatewayHighP99Latency",
    "QueueBacklogGrowing",
    "NoWorkerUp",
    "TaskFailureRatioHigh",
    "SyncWaitTimeoutsRising",
}


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERT_RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _alerts() -> list[dict[str, Any]]:
    """The alerting rules; the others record series the alerts and panels read."""
    return [rule for rule in _rules() if "alert" in rule]


def test_compose_config_is_valid() -> None:
    assert "SUCCESS" in promtool("check", "config", PROMETHEUS_CONFIG)


def test_compose_config_scrapes_every_part_and_discovers_replicas() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"gateway", "worker", "celery-exporter", "prometheus"}
    # Replicas of `--scale gateway=N` and `--scale worker=N` are found by name, never listed.
    for name, port in (("gateway", 8000), ("worker", 9100)):
        assert jobs[name]["dns_sd_configs"] == [
            {"names": [name], "type": "A", "port": port, "refresh_interval": "15s"}
        ]
        assert "static_configs" not in jobs[name]
    exporter = jobs["celery-exporter"]
    assert exporter["static_configs"] == [{"targets": ["celery-exporter:9808"]}]
    assert (exporter["scrape_interval"], exporter["scrape_timeout"]) == ("10s", "5s")
    assert config["rule_files"] == ["alerts.yml"]


def test_local_config_is_valid_and_points_at_this_machine(tmp_path: Path) -> None:
    stack = LocalStack(workdir=tmp_path / "stack", api_port=18000)
    config = local_config(stack, port=19090, exporter_port=19808, scrape_interval="1s")
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    assert "SUCCESS" in promtool("check", "config", path)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"gateway", "worker", "celery-exporter", "prometheus"}
    assert jobs["gateway"]["static_configs"] == [{"targets": ["127.0.0.1:18000"]}]
    assert "dns_sd_configs" not in jobs["gateway"]
    assert jobs["celery-exporter"]["static_configs"] == [{"targets": ["127.0.0.1:19808"]}]
    assert "file_sd_configs" in jobs["worker"]
    # The same alert rules as compose, not a copy.
    assert config["rule_files"] == [str(ALERT_RULES)]


def test_alert_rules_are_valid() -> None:
    assert f"SUCCESS: {len(_rules())} rules found" in promtool("check", "rules", ALERT_RULES)


def test_alert_rules_unit_tests_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", ALERT_TESTS)


def test_the_required_alerts_exist_with_severity_and_text() -> None:
    alerts = _alerts()
    assert {a["alert"] for a in alerts} >= REQUIRED_ALERTS
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]
        assert alert["annotations"]["description"], alert["alert"]


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {a["alert"] for a in _alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested quiet"
