"""Prometheus, Grafana and compose agree on the services' names and ports.

Reads the monitoring files at their agreed paths (monitoring/prometheus/prometheus.yml and
monitoring/grafana/provisioning/...): they belong to the monitoring part of the stack.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.stackfiles import (
    GRAFANA_DASHBOARDS_PROVIDER,
    GRAFANA_DATASOURCE,
    PROMETHEUS_YML,
    ROOT,
    bind_mounts,
    container_ports,
    load_yaml,
    services,
)

AGREED_JOBS = {"gateway", "worker", "celery-exporter", "prometheus"}


def scrape_configs() -> dict[str, dict[str, Any]]:
    config = load_yaml(PROMETHEUS_YML)
    return {job["job_name"]: job for job in config["scrape_configs"]}


def _listens(host: str, port: int, job: str) -> None:
    if job == "prometheus" and host == "localhost":
        host = "prometheus"  # Prometheus scraping itself, inside its own container
    assert host in services(), f"job {job}: {host} is not a compose service"
    assert port in container_ports(services()[host]), f"job {job}: {host} does not listen on {port}"


def test_prometheus_scrapes_the_agreed_jobs() -> None:
    assert set(scrape_configs()) == AGREED_JOBS


def test_every_static_target_is_a_compose_service_port() -> None:
    for job, config in scrape_configs().items():
        for group in config.get("static_configs", []):
            for target in group["targets"]:
                host, _, port = target.rpartition(":")
                _listens(host, int(port), job)


@pytest.mark.parametrize("name", ["gateway", "worker"])
def test_every_replica_is_scraped(name: str) -> None:
    """A static `worker:9100` would reach one replica at random; DNS discovery finds each."""
    job = scrape_configs()[name]
    assert "static_configs" not in job
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == [name]
    assert discovery.get("type", "SRV") == "A"
    _listens(name, int(discovery["port"]), name)


def test_prometheus_loads_its_rules_from_the_mounted_folder() -> None:
    mounts = dict(bind_mounts(services()["prometheus"]))
    config_dir = PROMETHEUS_YML.parent.relative_to(ROOT)
    assert mounts.get(f"./{config_dir}") == "/etc/prometheus"
    for rule_file in load_yaml(PROMETHEUS_YML).get("rule_files", []):
        assert (PROMETHEUS_YML.parent / rule_file).is_file(), rule_file


def test_grafana_datasource_is_the_prometheus_service() -> None:
    (source,) = load_yaml(GRAFANA_DATASOURCE)["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == "prometheus"
    scheme, _, address = source["url"].partition("://")
    assert scheme == "http"
    host, _, port = address.rstrip("/").partition(":")
    _listens(host, int(port), "grafana datasource")


def test_grafana_reads_its_dashboards_where_compose_mounts_them() -> None:
    mounts = dict(bind_mounts(services()["grafana"]))
    assert mounts.get("./monitoring/grafana/provisioning") == "/etc/grafana/provisioning"
    (provider,) = load_yaml(GRAFANA_DASHBOARDS_PROVIDER)["providers"]
    assert mounts.get("./monitoring/grafana/dashboards") == provider["options"]["path"]
