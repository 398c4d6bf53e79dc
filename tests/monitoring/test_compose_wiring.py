"""compose.yaml runs the monitoring the way monitoring/ and the local stack expect."""

from __future__ import annotations

import yaml

from scripts.monitoring import EXPORTER_FLAGS, PROMETHEUS_CONFIG
from tests.support.stackfiles import services


def test_workers_serve_metrics_where_prometheus_discovers_them() -> None:
    worker = services()["worker"]
    jobs = yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
    (discovery,) = next(j for j in jobs if j["job_name"] == "worker")["dns_sd_configs"]
    assert discovery["names"] == ["worker"]
    assert worker["environment"]["WORKER_METRICS_HOST"] == "0.0.0.0"
    assert int(worker["environment"]["WORKER_METRICS_PORT"]) == discovery["port"]
    # A shared, never-emptied directory would sum earlier runs' counts (worker/metrics_dir.py).
    assert "PROMETHEUS_MULTIPROC_DIR" not in worker["environment"]


def test_exporter_runs_with_the_local_stack_options() -> None:
    command = services()["celery-exporter"]["command"]
    assert set(EXPORTER_FLAGS) <= set(command)
    assert "--port=9808" in command


def test_prometheus_and_grafana_mount_the_monitoring_files() -> None:
    prometheus, grafana = services()["prometheus"], services()["grafana"]
    assert "./monitoring/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    password = grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert password.startswith("${"), "the admin password must come from the environment"
