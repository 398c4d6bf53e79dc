"""Every container: no capabilities, no privilege gain, a read-only root with a place to write."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy import dockerfile
from tests.support.stackfiles import BUILT, NGINX_CONF, SERVICES, environment, services
from worker.settings import WorkerSettings

# Services whose root filesystem stays writable, each with the reason. None: every service
# runs read-only, writing only to the paths below.
WRITABLE_ROOT: dict[str, str] = {}

# Capabilities a service gets back after dropping all, each with the reason. None: every
# service runs as a non-root user on a port above 1024.
CAPABILITIES_ADDED: dict[str, set[str]] = {}

# Where each service writes; each must be a writable volume or a tmpfs.
WRITES: dict[str, set[str]] = {
    "redis": {"/data"},  # the append-only file
    "gateway": set(),
    # Prometheus' multiprocess files, in a temporary directory (worker/metrics_dir.py).
    "worker": {"/tmp"},
    # The model registry: versions trained, the served record.
    "models": {"/app/models"},
    "celery-exporter": set(),
    "prometheus": {"/prometheus"},  # the time-series database
    # Its database and plugins; plugin downloads are staged in /tmp.
    "grafana": {"/var/lib/grafana", "/tmp"},
    # nginx-unprivileged's pid file and its proxy and body buffers.
    "frontend": {"/tmp"},
    "gateway-lb": {"/tmp"},
}


def _tmpfs(service: dict[str, Any]) -> set[str]:
    mounts = service.get("tmpfs") or []
    if isinstance(mounts, str):
        mounts = [mounts]
    return {str(mount).split(":", 1)[0] for mount in mounts}


def _writable_volumes(service: dict[str, Any]) -> set[str]:
    targets = set()
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if not volume.get("read_only"):
                targets.add(volume["target"])
            continue
        parts = str(volume).split(":")
        if len(parts) >= 2 and "ro" not in parts[2:]:
            targets.add(parts[1])
    return targets


def test_the_exceptions_name_real_services() -> None:
    assert set(WRITES) == SERVICES
    assert set(WRITABLE_ROOT) <= SERVICES
    assert set(CAPABILITIES_ADDED) <= SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_drops_every_capability(name: str) -> None:
    service = services()[name]
    assert [str(c).upper() for c in service.get("cap_drop", [])] == ["ALL"], name
    added = {str(c).upper().removeprefix("CAP_") for c in service.get("cap_add", [])}
    assert added == CAPABILITIES_ADDED.get(name, set()), f"{name} adds {added}"
    assert not service.get("privileged"), name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_forbids_gaining_privileges(name: str) -> None:
    options = {str(o).replace("=", ":") for o in services()[name].get("security_opt", [])}
    assert "no-new-privileges:true" in options, name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_read_only_root_unless_excepted(name: str) -> None:
    read_only = services()[name].get("read_only") is True
    assert read_only != (name in WRITABLE_ROOT), name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_what_a_service_writes_is_a_volume_or_a_tmpfs(name: str) -> None:
    service = services()[name]
    writable = _tmpfs(service) | _writable_volumes(service)
    for path in WRITES[name]:
        assert any(path == w or path.startswith(w.rstrip("/") + "/") for w in writable), (
            f"{name} writes {path}, which is neither a volume nor a tmpfs"
        )


def test_the_worker_metrics_directory_is_on_its_tmpfs() -> None:
    """The worker makes it with tempfile, which picks /tmp unless TMPDIR says otherwise."""
    assert WorkerSettings.model_fields["prometheus_multiproc_dir"].default is None
    env = environment(services()["worker"])
    assert "TMPDIR" not in env
    assert "PROMETHEUS_MULTIPROC_DIR" not in env
    for stage in dockerfile.parse(BUILT["worker"]):
        for instruction in stage.all("ENV"):
            assert "TMPDIR" not in instruction.args
            assert "PROMETHEUS_MULTIPROC_DIR" not in instruction.args


def test_nginx_writes_only_under_tmp() -> None:
    """nginx-unprivileged puts its pid file and temporary paths in /tmp; ours moves none."""
    base = dockerfile.parse(BUILT["frontend"])[-1]
    assert base.base.startswith("nginxinc/nginx-unprivileged:")
    conf = NGINX_CONF.read_text()
    for directive in ("pid ", "_temp_path ", "access_log /", "error_log /"):
        assert directive not in conf, f"nginx.conf sets {directive.strip()}"
