"""Monitoring of the local stack: the Celery exporter and Prometheus, as stack Services.

Prometheus runs the compose configuration (monitoring/prometheus/prometheus.yml) with its
targets rewritten to this machine's ports: the same jobs, intervals and alert rules. Workers
are found through the files of a folder Prometheus watches (the local stand-in for the
compose DNS discovery): each worker writes its own there while it runs (worker.discovery), so
one started by hand (`make worker`) is found like the others.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from scripts.stack import ROOT, LocalStack, Service, wait_until

MONITORING = ROOT / "monitoring"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
ALERT_RULES = MONITORING / "prometheus" / "alerts.yml"
# The exporter pins redis<6 and celery 5.5 and installs a top-level module named `src`:
# it lives in a virtualenv of its own (`make monitoring-deps`).
EXPORTER_PYTHON = Path(os.environ.get("EXPORTER_PYTHON", ROOT / ".venv-exporter/bin/python"))

# The exporter's options, the same as compose.yaml's (tests/monitoring checks it). Worker
# churn: a worker silent for 30 s is down (heartbeats come every 2 s) and its series go after
# 10 min, so scaled-away replicas do not pile up; tasks are sent by any number of gateways,
# so one "generic" host label keeps that series count flat; a Redis restart is retried.
EXPORTER_FLAGS = [
    "--queues=celery",
    "--worker-timeout=30",
    "--purge-offline-worker-metrics=600",
    "--generic-hostname-task-sent-metric",
    "--retry-interval=5",
]


def exporter_argv(host: str, port: int) -> list[str]:
    # -I: the exporter's `src` package must not meet this project's modules or PYTHON* vars.
    # Options also come from CE_<OPTION>, as in the image's entry point.
    launcher = "from src.cli import cli; cli(auto_envvar_prefix='CE')"
    return [
        str(EXPORTER_PYTHON), "-I", "-c", launcher,
        f"--host={host}", f"--port={port}", *EXPORTER_FLAGS,
    ]  # fmt: skip


def start_exporter(stack: LocalStack, port: int = 9808) -> Service:
    """danihodovic's Celery exporter on 127.0.0.1:port, reading the stack's broker."""
    if not EXPORTER_PYTHON.exists():
        raise FileNotFoundError(f"{EXPORTER_PYTHON} is missing: run `make monitoring-deps`")
    argv = exporter_argv("127.0.0.1", port)
    # The broker URL may carry Redis' password: the environment, as compose's CE_BROKER_URL,
    # never the command line (ps shows that to every user).
    broker = {"CE_BROKER_URL": str(stack.redis_url)}
    return _start(stack, "celery-exporter", argv, f"http://127.0.0.1:{port}/health", 30, broker)


def local_config(
    stack: LocalStack,
    port: int,
    exporter_port: int | None,
    scrape_interval: str | None = None,
    exporter_interval: str | None = None,
) -> dict[str, Any]:
    """The compose configuration, pointed at the stack's 127.0.0.1 ports.

    `scrape_interval` (also the rule evaluation interval) and `exporter_interval` override the
    compose ones, for tests that cannot wait 15 s per sample.
    """
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    config["rule_files"] = [str(ALERT_RULES)]
    if scrape_interval is not None:
        config["global"].update(
            scrape_interval=scrape_interval,
            evaluation_interval=scrape_interval,
            scrape_timeout=scrape_interval,
        )
    local_targets = {
        "gateway": f"127.0.0.1:{stack.api_port}",
        "celery-exporter": f"127.0.0.1:{exporter_port}",
        "prometheus": f"127.0.0.1:{port}",
    }
    jobs = []
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name == "worker":
            del job["dns_sd_configs"]
            # Watched from the start: Prometheus notices a file there within seconds, and
            # rereads the folder at the interval compose's DNS discovery uses.
            stack.worker_targets_dir.mkdir(parents=True, exist_ok=True)
            files = str(stack.worker_targets_dir / "*.json")
            job["file_sd_configs"] = [{"files": [files], "refresh_interval": "15s"}]
        elif name in local_targets:
            # compose's replicas found by DNS: here, the one port.
            job.pop("dns_sd_configs", None)
            if name == "celery-exporter":
                if exporter_port is None:
                    continue
                if exporter_interval is not None:
                    # Its /metrics takes ~2 s: keep the interval >= 5 s.
                    job["scrape_interval"] = job["scrape_timeout"] = exporter_interval
            job["static_configs"] = [{"targets": [local_targets[name]]}]
        else:
            raise ValueError(f"no local target for the scrape job {name!r} of {PROMETHEUS_CONFIG}")
        jobs.append(job)
    config["scrape_configs"] = jobs
    return config


def start_prometheus(
    stack: LocalStack,
    port: int = 9090,
    exporter_port: int | None = 9808,
    scrape_interval: str | None = None,
    exporter_interval: str | None = None,
    extra_args: Sequence[str] = (),
) -> Service:
    """Prometheus on 127.0.0.1:port scraping the stack, with the alert rules of compose."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise FileNotFoundError("prometheus is not installed: run `make monitoring-deps`")
    directory = _prometheus_dir(stack)
    config_path = directory / "prometheus.yml"
    config = local_config(stack, port, exporter_port, scrape_interval, exporter_interval)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={directory / 'data'}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        *extra_args,
    ]
    return _start(stack, "prometheus", argv, f"http://127.0.0.1:{port}/-/ready", 30)


# Debian's package has no React UI: it serves the classic pages under /classic/. Prometheus'
# own builds (compose's image) serve /targets and /alerts.
UI_PAGE_PATHS = ("/classic/{page}", "/{page}")


def ui_page(base_url: str, page: str) -> str:
    """The URL of a Prometheus page ("targets", "alerts") that this Prometheus serves."""
    for path in UI_PAGE_PATHS:
        url = base_url + path.format(page=page)
        with contextlib.suppress(OSError):
            if _answers(url):
                return url
    return base_url


def _prometheus_dir(stack: LocalStack) -> Path:
    return stack.workdir / "prometheus"


def _start(
    stack: LocalStack,
    name: str,
    argv: list[str],
    ready_url: str,
    timeout: float,
    env: dict[str, str] | None = None,
) -> Service:
    service = Service(name, argv, stack.env(**(env or {})), stack.workdir / "logs" / f"{name}.log")
    stack.services.append(service)
    service.start()
    wait_until(lambda: _answers(ready_url) or not service.alive(), timeout, name)
    if not service.alive():
        raise RuntimeError(f"{name} exited:\n{service.output()[-3000:]}")
    return service


def _answers(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (local URL)
        return bool(response.status == 200)
