"""compose.yaml's services: what they build, mount, publish, wait for and how they stop."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy import dockerfile
from tests.support.stackfiles import (
    BUILT,
    ROOT,
    SERVICES,
    TOOLS,
    bind_mounts,
    compose,
    container_ports,
    environment,
    seconds,
    services,
)
from worker.settings import WorkerSettings


def test_the_stack_has_the_agreed_services() -> None:
    assert set(services()) == SERVICES


@pytest.mark.parametrize("name", sorted(BUILT))
def test_each_build_context_and_dockerfile_exist(name: str) -> None:
    build = services()[name]["build"]
    context = ROOT / build["context"]
    assert context.is_dir()
    assert (context / build["dockerfile"]).resolve() == BUILT[name]
    assert BUILT[name].is_file()


def test_every_image_is_built_here_or_pinned() -> None:
    for name, service in services().items():
        if name in TOOLS:
            # A tool runs an image built here.
            assert service["image"] in {services()[built]["image"] for built in BUILT}, name
        elif name in BUILT:
            # Our own images: named so they can be pushed and run on other machines.
            assert service["image"].startswith(f"irisq/{name}:"), name
        else:
            assert dockerfile.is_pinned(service["image"]), f"{name}: {service['image']}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_bind_mounted_path_exists(name: str) -> None:
    """Prometheus and Grafana mount monitoring/: those paths must be in the repository."""
    for source, target in bind_mounts(services()[name]):
        assert (ROOT / source).exists(), f"{name} mounts {source} at {target}: missing"


def test_the_model_registry_is_a_volume_workers_read_and_only_the_models_service_writes() -> None:
    """Every worker replica serves from one registry; the image's registry fills it."""
    worker, models = services()["worker"], services()["models"]
    model_dir = dockerfile.parse(BUILT["worker"])[-1].env()["MODEL_DIR"]
    assert f"models:{model_dir}:ro" in worker["volumes"]
    assert f"models:{model_dir}" in models["volumes"]
    assert "models" in compose()["volumes"]
    # The same image, so its commands and its registry are the worker's own.
    assert models["image"] == worker["image"]
    assert models["entrypoint"] == ["python", "-m", "worker.models"]
    assert models["profiles"] == ["tools"], "run on demand, never by `compose up`"
    # The image builds its registry with a served version: a fresh volume serves it.
    text = BUILT["worker"].read_text()
    assert f"worker.models --model-dir {model_dir} train" in text
    assert f"worker.models --model-dir {model_dir} promote" in text


def test_the_worker_can_be_scaled() -> None:
    worker = services()["worker"]
    # Each would be claimed once: `--scale worker=N` fails with any of them.
    for key in ("container_name", "ports", "hostname"):
        assert key not in worker, f"worker has {key}: it could not be scaled"
    assert "replicas" not in worker.get("deploy", {}), "use `--scale worker=N`"


def test_redis_is_not_published_to_the_host() -> None:
    assert "ports" not in services()["redis"]


def test_published_ports_bind_to_a_chosen_address() -> None:
    """Ports default to 127.0.0.1 (BIND_ADDRESS), never every interface by accident."""
    for name, service in services().items():
        for mapping in service.get("ports", []):
            assert str(mapping).startswith("${BIND_ADDRESS:-127.0.0.1}:"), f"{name}: {mapping}"


def test_agreed_ports_are_where_the_services_listen() -> None:
    agreed = {
        "redis": 6379,
        "gateway": 8000,
        "worker": 9100,
        "celery-exporter": 9808,
        "prometheus": 9090,
        "grafana": 3000,
        "frontend": 5174,
    }
    for name, port in agreed.items():
        assert port in container_ports(services()[name]), f"{name} does not listen on {port}"
    # The gateway's second port: the Open Inference Protocol over gRPC.
    assert 8001 in container_ports(services()["gateway"])


def _has_healthcheck(name: str, service: dict[str, Any]) -> bool:
    check = service.get("healthcheck")
    if check is not None:
        return not check.get("disable") and check.get("test") not in (["NONE"], "NONE")
    if name in BUILT:
        return dockerfile.parse(BUILT[name])[-1].last("HEALTHCHECK") is not None
    return False


@pytest.mark.parametrize("name", sorted(SERVICES - TOOLS))
def test_every_service_has_a_healthcheck(name: str) -> None:
    assert _has_healthcheck(name, services()[name])


def test_dependencies_wait_until_healthy() -> None:
    for name, service in services().items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: use depends_on with conditions"
        for dependency, options in depends_on.items():
            assert options.get("condition") == "service_healthy", f"{name} -> {dependency}"
            assert _has_healthcheck(dependency, services()[dependency])


def test_no_service_waits_for_the_workers() -> None:
    """Scaled to zero, or all busy, workers must not keep the rest of the stack down."""
    for name, service in services().items():
        assert "worker" not in service.get("depends_on", {}), name


@pytest.mark.parametrize("name", sorted(SERVICES - TOOLS))
def test_every_service_restarts_and_has_resource_limits(name: str) -> None:
    service = services()[name]
    assert service.get("restart") in {"unless-stopped", "always", "on-failure"}
    limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
    assert float(limits["cpus"]) > 0
    assert re.fullmatch(r"\d+[MG]", limits["memory"]), limits


def test_worker_stop_grace_period_outlasts_a_running_task() -> None:
    """Scaling down sends SIGTERM; Celery then finishes its running task, bounded by the hard
    time limit, and needs a few seconds for its own shutdown."""
    task_time_limit = WorkerSettings.model_fields["task_time_limit"].default
    assert "TASK_TIME_LIMIT" not in environment(services()["worker"]), "keep the bound known"
    grace = seconds(services()["worker"]["stop_grace_period"])
    assert grace >= task_time_limit + 10


def test_gateway_stop_grace_period_outlasts_its_graceful_shutdown() -> None:
    main = (ROOT / "gateway" / "__main__.py").read_text()
    found = re.search(r"timeout_graceful_shutdown=(\w+(?:\.\d+)?)", main)
    assert found, "gateway/__main__.py no longer sets uvicorn's graceful shutdown"
    value = found.group(1)
    if not value[0].isdigit():  # a named constant of the module
        constant = re.search(rf"^{value}(?:: *\w+)? *= *(\d+(?:\.\d+)?)", main, flags=re.M)
        assert constant, f"{value} is not a number in gateway/__main__.py"
        value = constant.group(1)
    assert seconds(services()["gateway"]["stop_grace_period"]) > float(value)


def test_every_redis_client_gets_the_password() -> None:
    for name in ("gateway", "worker"):
        env = environment(services()[name])
        assert env["REDIS_HOST"] == "redis"
        assert env["REDIS_PORT"] == "6379"
        assert env["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
        assert "REDIS_URL" not in env, "REDIS_URL would override host, port and password"
    redis_env = environment(services()["redis"])
    assert redis_env["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    broker = environment(services()["celery-exporter"])["CE_BROKER_URL"]
    assert re.fullmatch(r"redis://:\$\{REDIS_PASSWORD:\?[^}]*\}@redis:6379/0", broker), broker


def test_gateway_and_worker_share_the_ttls_they_both_use() -> None:
    gateway, worker = (environment(services()[n]) for n in ("gateway", "worker"))
    for key in ("CACHE_TTL_SECONDS", "JOB_TTL_SECONDS"):
        assert gateway[key] == worker[key]


def test_containerised_services_listen_beyond_localhost() -> None:
    assert environment(services()["gateway"])["API_HOST"] == "0.0.0.0"
    assert environment(services()["gateway"])["GRPC_HOST"] == "0.0.0.0"
    assert environment(services()["gateway"])["GRPC_PORT"] == "8001"
    assert environment(services()["worker"])["WORKER_METRICS_HOST"] == "0.0.0.0"
    assert environment(services()["worker"])["WORKER_METRICS_PORT"] == "9100"


def test_named_volumes_are_declared() -> None:
    declared = set(compose().get("volumes") or {})
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_build_contexts_are_the_repository_root() -> None:
    """One .dockerignore then governs every image."""
    for name in BUILT:
        assert Path(services()[name]["build"]["context"]) == Path("."), name
