"""The Kubernetes manifests (deploy/kubernetes), checked without a cluster.

Each overlay is rendered with kustomize (`kubectl kustomize`, offline) and checked: against
the Kubernetes API's schemas (kubernetes-validate's, strict) and the CRDs' own schemas
(KEDA's, Prometheus Operator's: deploy/kubernetes/schemas, shipped unchanged); against
compose.yaml, the Dockerfiles and the services' settings (images, commands, environment
variable names, ports, health checks); against the gateway's routes (every probe and
Ingress path is served); and for secrets, which never appear in the files.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from contract.broker import TASK_QUEUE
from contract.settings import SharedSettings
from gateway.__main__ import GRACEFUL_SHUTDOWN_SECONDS
from gateway.app import create_app
from gateway.settings import Settings
from scripts import gen_prometheus_rule
from scripts.stack import ROOT, SERVICE_COMMANDS
from tests.deploy import dockerfile
from tests.support.stackfiles import (
    BUILT,
    NGINX_CONF,
    PROMETHEUS_YML,
    container_ports,
    environment,
    load_yaml,
    seconds,
    services,
)
from worker.settings import WorkerSettings

KUBERNETES = ROOT / "deploy" / "kubernetes"
SCHEMAS = KUBERNETES / "schemas"
OVERLAYS = ["dev", "production"]
NAMESPACES = {"dev": "irisq-dev", "production": "irisq"}
# The oldest Kubernetes the manifests are written for, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.30", "1.37"]
# A password for the dev overlay's Secret, written only into the test's copy of the files.
TEST_PASSWORD = "kubernetesTest0123456789"
SECRET_NAME = re.compile(r"(^|_)(PASSWORD|SECRET|TOKEN|AUTH|API_KEY|PRIVATE_KEY)$")
# The keys of the Secret irisq-redis that production's operator creates (docs/kubernetes.md).
PRODUCTION_SECRET_KEYS = {"REDIS_URL", "REDIS_ADDRESS", "REDIS_PASSWORD"}
# Where each overlay says how many pods run.
REPLICA_BOUNDS = [
    ("HorizontalPodAutoscaler", "gateway", "minReplicas"),
    ("HorizontalPodAutoscaler", "gateway", "maxReplicas"),
    ("ScaledObject", "worker", "minReplicaCount"),
    ("ScaledObject", "worker", "maxReplicaCount"),
    ("Deployment", "frontend", "replicas"),
]
# The settings class each of irisq's own services reads.
SETTINGS: dict[str, type[SharedSettings]] = {"gateway": Settings, "worker": WorkerSettings}

Doc = dict[str, Any]


# --- rendering -----------------------------------------------------------------------------


def kubectl() -> str:
    """The virtualenv's kubectl (requirements/kubernetes.txt), never another on the PATH."""
    found = Path(sys.executable).parent / "kubectl"
    if not found.exists():
        pytest.fail("kubectl is not installed: run `make deploy-deps`")
    return str(found)


def kustomize(directory: Path) -> str:
    """The directory's kustomization rendered, as `kubectl apply -k` would send it."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        # No kubeconfig, no cluster: kustomize reads only the directory.
        env={"PATH": "/usr/bin:/bin", "HOME": str(directory)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifests copied, with the dev overlay's git-ignored redis.env written: a
    developer's own password never reaches the test."""
    target = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(KUBERNETES, target, ignore=shutil.ignore_patterns("schemas", "redis.env"))
    (target / "overlays" / "dev" / "redis.env").write_text(f"REDIS_PASSWORD={TEST_PASSWORD}\n")
    return target


@pytest.fixture(scope="module")
def rendered_text(copy: Path) -> dict[str, str]:
    return {name: kustomize(copy / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="module")
def rendered(rendered_text: dict[str, str]) -> dict[str, list[Doc]]:
    return {
        name: [doc for doc in yaml.safe_load_all(text) if doc]
        for name, text in rendered_text.items()
    }


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def named(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(docs: list[Doc], name: str, kind: str = "Deployment") -> Doc:
    pod = find(docs, kind, name)["spec"]["template"]["spec"]
    (found,) = (c for c in pod["containers"] if c["name"] == name)
    result: Doc = found
    return result


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in {"Deployment", "StatefulSet"}]


def env_names(docs: list[Doc], spec: Doc) -> set[str]:
    """The variables a container gets: `env` and the keys of the ConfigMaps in `envFrom`."""
    names = {e["name"] for e in spec.get("env", [])}
    for source in spec.get("envFrom", []):
        config_map = find(docs, "ConfigMap", source["configMapRef"]["name"])
        names |= set(config_map["data"])
    return names


def literal_env(docs: list[Doc], spec: Doc) -> dict[str, str]:
    values = {e["name"]: e["value"] for e in spec.get("env", []) if "value" in e}
    for source in spec.get("envFrom", []):
        values |= find(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
    return values


def labels(doc: Doc) -> dict[str, str]:
    found: dict[str, str] = doc["metadata"].get("labels", {})
    return found


def pod_labels(workload: Doc) -> dict[str, str]:
    found: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return found


def selects(selector: dict[str, str], target: dict[str, str]) -> bool:
    return all(target.get(key) == value for key, value in selector.items())


# --- schemas -------------------------------------------------------------------------------


@functools.cache
def crds() -> list[Doc]:
    """The shipped CRDs, read once (they are large: ~200 kB of YAML)."""
    found = []
    for path in sorted(SCHEMAS.glob("*/*.yaml")):
        found += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def strict(schema: Doc) -> Doc:
    """A CRD's structural schema as the API server applies it: unknown fields are errors
    (`kubectl apply`'s strict field validation), except where the schema keeps them."""
    out = dict(schema)
    if "properties" in out:
        out["properties"] = {name: strict(s) for name, s in out["properties"].items()}
        keeps_unknown = out.get("x-kubernetes-preserve-unknown-fields", False)
        if "additionalProperties" not in out and not keeps_unknown:
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = strict(out["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [strict(s) for s in out[key]]
    return out


def crd_schema(doc: Doc) -> Doc | None:
    """The shipped schema of a custom resource's kind and version; None for the API's own."""
    group, _, version = doc["apiVersion"].rpartition("/")
    for crd in crds():
        names = crd["spec"]["names"]
        if crd["spec"]["group"] == group and names["kind"] == doc["kind"]:
            served = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
            assert served, f"{doc['kind']} {doc['apiVersion']}: a version the CRD does not serve"
            return strict(served[0]["schema"]["openAPIV3Schema"])
    return None


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_validate_against_the_kubernetes_and_crd_schemas(
    rendered: dict[str, list[Doc]], overlay: str, version: str
) -> None:
    """Every object, none skipped: the API's kinds against kubernetes-validate's strict
    schemas, the custom resources against their CRDs' schemas."""
    for doc in rendered[overlay]:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        schema = crd_schema(doc)
        if schema is not None:
            errors = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(doc)]
            assert errors == [], f"{overlay}: {what}: {errors}"
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            pytest.fail(f"{overlay}: {what} (Kubernetes {version}): {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            pytest.fail(f"{overlay}: {what}: no schema to check it against: {error.message}")


def test_the_crd_schemas_are_the_upstream_files_with_their_licences() -> None:
    notice = (SCHEMAS / "NOTICE").read_text()
    listed = {path: digest for digest, path in re.findall(r"sha256 (\w{64})  (\S+)", notice)}
    shipped = {str(p.relative_to(SCHEMAS)) for p in SCHEMAS.glob("*/*.yaml")}
    assert set(listed) == shipped
    for path, digest in listed.items():
        assert hashlib.sha256((SCHEMAS / path).read_bytes()).hexdigest() == digest, path
        assert "Apache License" in (SCHEMAS / path).parent.joinpath("LICENSE").read_text()
    kinds = {crd["spec"]["names"]["kind"] for crd in crds()}
    assert kinds == {
        "ScaledObject",
        "TriggerAuthentication",
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
    }


def test_the_schema_check_refuses_an_unknown_field(rendered: dict[str, list[Doc]]) -> None:
    """The check has teeth: a misspelt field fails both kinds of schema."""
    scaled = dict(find(rendered["dev"], "ScaledObject", "worker"))
    scaled["spec"] = {**scaled["spec"], "minReplicas": 1}
    schema = crd_schema(scaled)
    assert schema is not None
    assert list(jsonschema.Draft4Validator(schema).iter_errors(scaled))
    service = dict(find(rendered["dev"], "Service", "gateway"))
    service["spec"] = {**service["spec"], "selectors": {}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSIONS[0], strict=True)


# --- the same services as compose ---------------------------------------------------------


def compose_default(value: str) -> str:
    """A compose value with its variables at their defaults: irisq/gateway:${IRISQ_TAG:-dev}
    is irisq/gateway:dev."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def compose_image(name: str) -> str:
    return compose_default(services()[name]["image"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_and_commands_are_compose_s(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    for name in ("gateway", "worker", "frontend", "celery-exporter"):
        spec = container(docs, name)
        image = compose_image(name)
        if overlay == "production" and name in BUILT:
            # The same image from the operator's registry, with a release's tag.
            repository = image.rsplit(":", 1)[0]
            assert spec["image"].rsplit(":", 1)[0].endswith("/" + repository), spec["image"]
        else:
            assert spec["image"] == image, name
        if name in SERVICE_COMMANDS:
            cmd = dockerfile.parse(BUILT[name])[-1].last("CMD")
            assert cmd is not None
            assert spec["command"] == cmd.exec_form() == SERVICE_COMMANDS[name]
            assert "args" not in spec
        else:
            # compose's `command` for an image is the image's arguments (its CMD).
            assert spec.get("args") == services()[name].get("command"), name
            assert "command" not in spec


def test_the_dev_redis_is_compose_s(rendered: dict[str, list[Doc]]) -> None:
    """Same image, command (maxmemory, eviction policy, append-only file, password on stdin)
    and variables. `$$` is a literal `$` in a Kubernetes command as in compose."""
    redis = container(rendered["dev"], "redis", "StatefulSet")
    compose = services()["redis"]
    assert redis["image"] == compose["image"]
    assert redis["command"] == compose["command"]
    assert env_names(rendered["dev"], redis) == set(environment(compose))
    assert literal_env(rendered["dev"], redis)["REDIS_MAXMEMORY"] == compose_default(
        environment(compose)["REDIS_MAXMEMORY"]
    )
    pod = find(rendered["dev"], "StatefulSet", "redis")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= seconds(compose["stop_grace_period"])
    assert "redis" not in named(rendered["production"], "StatefulSet")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_container_ports_are_compose_s(rendered: dict[str, list[Doc]], overlay: str) -> None:
    docs = rendered[overlay]
    specs = {name: container(docs, name) for name in ("gateway", "worker", "frontend")}
    specs["celery-exporter"] = container(docs, "celery-exporter")
    if overlay == "dev":
        specs["redis"] = container(docs, "redis", "StatefulSet")
    for name, spec in specs.items():
        ports = {p["containerPort"] for p in spec.get("ports", [])}
        assert ports == container_ports(services()[name]), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_env_var_names_are_fields_of_the_services_settings(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    """Each variable names a field of the service's settings class, and its literal value is
    one the class accepts; every variable compose gives the service that its class reads is
    here (REDIS_URL standing for compose's host, port and password in production)."""
    docs = rendered[overlay]
    for name, settings in SETTINGS.items():
        spec = container(docs, name)
        fields = {field.upper() for field in settings.model_fields}
        names = env_names(docs, spec)
        assert names <= fields, f"{name}: not settings: {names - fields}"
        settings.model_validate({k.lower(): v for k, v in literal_env(docs, spec).items()})
        expected = set(environment(services()[name])) & fields
        if overlay == "production":
            expected = expected - {"REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"} | {"REDIS_URL"}
        assert names == expected, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_and_workers_agree_on_the_shared_settings(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    gateway, worker = (literal_env(docs, container(docs, n)) for n in ("gateway", "worker"))
    for key in set(gateway) & set(worker) & {f.upper() for f in SharedSettings.model_fields}:
        assert gateway[key] == worker[key], key
    compose = environment(services()["gateway"])
    assert gateway["CACHE_TTL_SECONDS"] == compose_default(compose["CACHE_TTL_SECONDS"])
    assert gateway["JOB_TTL_SECONDS"] == compose_default(compose["JOB_TTL_SECONDS"])


# --- health checks -------------------------------------------------------------------------


def healthcheck_url_path(command: list[str]) -> str:
    found = re.search(r"http://127\.0\.0\.1:(?:%s|\d+)(/[\w/-]*)", " ".join(command))
    assert found, command
    return found.group(1)


def probe_timing(probe: Doc) -> tuple[float, float, int]:
    return probe["periodSeconds"], probe["timeoutSeconds"], probe.get("failureThreshold", 3)


def docker_timing(options: dict[str, str]) -> tuple[float, float, int]:
    return seconds(options["interval"]), seconds(options["timeout"]), int(options["retries"])


@pytest.fixture(scope="module")
def gateway_routes() -> set[str]:
    """The paths the gateway serves (the app built, nothing connected)."""
    return {route.path for route in create_app(Settings()).routes if hasattr(route, "path")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_are_the_images_health_checks_on_real_endpoints(
    rendered: dict[str, list[Doc]], overlay: str, gateway_routes: set[str]
) -> None:
    docs = rendered[overlay]
    for name in ("gateway", "worker", "frontend"):
        check = dockerfile.parse(BUILT[name])[-1].last("HEALTHCHECK")
        assert check is not None
        argv, options = check.exec_form(), dockerfile.healthcheck_options(check.args)
        liveness = container(docs, name)["livenessProbe"]
        assert probe_timing(liveness) == docker_timing(options), name
        if name == "worker":
            assert liveness["exec"]["command"] == argv
        else:
            assert liveness["httpGet"]["path"] == healthcheck_url_path(argv), name
    gateway = container(docs, "gateway")
    probes = [gateway[p]["httpGet"] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    assert [p["path"] for p in probes] == ["/health", "/health", "/ready"]
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    api_port = int(literal_env(docs, gateway)["API_PORT"])
    for probe in probes:
        assert probe["path"] in gateway_routes
        assert ports[probe["port"]] == api_port
    assert "location = /healthz" in NGINX_CONF.read_text()

    exporter = container(docs, "celery-exporter")["livenessProbe"]
    compose = services()["celery-exporter"]["healthcheck"]
    assert exporter["httpGet"]["path"] == healthcheck_url_path(compose["test"])
    assert probe_timing(exporter) == docker_timing(compose)
    if overlay == "dev":
        redis = container(docs, "redis", "StatefulSet")["livenessProbe"]
        compose = services()["redis"]["healthcheck"]
        assert redis["exec"]["command"] == ["sh", "-c", compose["test"][1]]
        assert probe_timing(redis) == docker_timing(compose)


def test_the_ingress_sends_the_ui_s_api_paths_to_the_gateway(
    rendered: dict[str, list[Doc]], gateway_routes: set[str]
) -> None:
    """The paths frontend/nginx.conf passes to the gateway in compose, and the Open Inference
    Protocol's /v2; everything else (/ready, /metrics, /docs) is the UI's."""
    proxied = re.search(r"location ~ \^/\(([\w|]+)\)\(/\|\$\)", NGINX_CONF.read_text())
    assert proxied, "frontend/nginx.conf no longer lists its API paths"
    for overlay in OVERLAYS:
        rules = find(rendered[overlay], "Ingress", "irisq")["spec"]["rules"]
        paths = {
            p["path"]: p["backend"]["service"] for rule in rules for p in rule["http"]["paths"]
        }
        to_gateway = {path for path, service in paths.items() if service["name"] == "gateway"}
        assert to_gateway == {f"/{p}" for p in proxied.group(1).split("|")} | {"/v2"}
        for path in to_gateway:
            assert any(r == path or r.startswith(path + "/") for r in gateway_routes), path
            assert paths[path]["port"] == {"name": "http"}
        assert paths["/"]["name"] == "frontend"
        assert not {"/ready", "/metrics", "/docs"} & set(paths)


# --- graceful stops, scaling and disruption ------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_covers_the_gateway_drain_and_the_worker_s_warm_shutdown(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    gateway = find(docs, "Deployment", "gateway")["spec"]["template"]["spec"]
    pre_stop = gateway["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert gateway["terminationGracePeriodSeconds"] > int(pre_stop[1]) + GRACEFUL_SHUTDOWN_SECONDS
    worker = find(docs, "Deployment", "worker")["spec"]["template"]["spec"]
    task_time_limit = WorkerSettings.model_fields["task_time_limit"].default
    assert "TASK_TIME_LIMIT" not in env_names(docs, worker["containers"][0])
    assert worker["terminationGracePeriodSeconds"] >= task_time_limit + 10
    assert worker["terminationGracePeriodSeconds"] >= seconds(
        services()["worker"]["stop_grace_period"]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_scale_on_the_celery_queue_and_gateways_on_cpu(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    hpa = find(docs, "HorizontalPodAutoscaler", "gateway")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "gateway",
    }
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    scaled = find(docs, "ScaledObject", "worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "worker"
    (queue,) = (t for t in scaled["triggers"] if t["type"] == "redis")
    assert queue["metadata"]["listName"] == TASK_QUEUE
    redis_db = SharedSettings.model_fields["redis_db"].default
    assert queue["metadata"]["databaseIndex"] == str(redis_db)
    assert int(queue["metadata"]["listLength"]) == 1
    # One worker per gateway at most is enough (components/keda), and /ready needs one.
    assert scaled["maxReplicaCount"] >= hpa["maxReplicas"]
    assert scaled["minReplicaCount"] >= 1
    # The exporter counts the same queue.
    assert f"--queues={TASK_QUEUE}" in container(docs, "celery-exporter")["args"]
    # The autoscalers own the counts: a replicas field would reset them at every apply.
    for name in ("gateway", "worker"):
        assert "replicas" not in find(docs, "Deployment", name)["spec"]

    auth = find(docs, "TriggerAuthentication", queue["authenticationRef"]["name"])["spec"]
    keys = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["secretTargetRef"]}
    assert set(keys) == {"address", "password"}
    if overlay == "dev":
        secret = find(docs, "Secret", keys["address"][0])
        assert {key for _, key in keys.values()} <= set(secret["data"])
        address = base64.b64decode(secret["data"][keys["address"][1]]).decode()
        # KEDA's operator resolves it from its own namespace: the full name of this one's Redis.
        service = find(docs, "Service", "redis")
        assert address == f"redis.{NAMESPACES[overlay]}.svc.cluster.local:6379"
        assert service["metadata"]["namespace"] == NAMESPACES[overlay]


def test_production_runs_more_replicas_than_dev(rendered: dict[str, list[Doc]]) -> None:
    dev, production = rendered["dev"], rendered["production"]
    for kind, name, field in REPLICA_BOUNDS:
        assert find(production, kind, name)["spec"][field] > find(dev, kind, name)["spec"][field]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_selector_picks_one_workload_s_pods(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    docs = rendered[overlay]
    pods = {w["metadata"]["name"]: pod_labels(w) for w in workloads(docs)}
    for workload in workloads(docs):
        assert selects(workload["spec"]["selector"]["matchLabels"], pod_labels(workload))
    for doc in docs:
        if doc["kind"] == "Service":
            selector = doc["spec"]["selector"]
        elif doc["kind"] in {"PodDisruptionBudget", "PodMonitor"}:
            selector = doc["spec"]["selector"]["matchLabels"]
        else:
            continue
        chosen = [name for name, pod in pods.items() if selects(selector, pod)]
        assert len(chosen) == 1, f"{doc['kind']}/{doc['metadata']['name']} selects {chosen}"
    budgets = named(docs, "PodDisruptionBudget")
    assert {"gateway", "worker", "frontend"} <= set(budgets)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_meet_the_restricted_pod_security_profile(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    """As compose's hardening: non-root, no capabilities, no privilege escalation, a
    read-only root filesystem; and requests and limits for CPU and memory."""
    docs = rendered[overlay]
    namespace = find(docs, "Namespace", NAMESPACES[overlay])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload in workloads(docs):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert workload["metadata"]["namespace"] == NAMESPACES[overlay]
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True
        assert isinstance(context["runAsUser"], int), name
        assert context["runAsUser"] > 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for spec in pod["containers"]:
            security = spec["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"] == {"drop": ["ALL"]}
            resources = spec["resources"]
            assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


# --- monitoring ----------------------------------------------------------------------------


def monitored(docs: list[Doc], monitor: Doc) -> tuple[dict[str, str], set[str], list[Doc]]:
    """A monitor's one target (a Service, or a workload's pods): its labels, its port names,
    and the monitor's endpoints."""
    selector = monitor["spec"]["selector"]["matchLabels"]
    if monitor["kind"] == "ServiceMonitor":
        (service,) = (s for s in named(docs, "Service").values() if selects(selector, labels(s)))
        ports = {p["name"] for p in service["spec"]["ports"]}
        return labels(service), ports, monitor["spec"]["endpoints"]
    (workload,) = (w for w in workloads(docs) if selects(selector, pod_labels(w)))
    containers = workload["spec"]["template"]["spec"]["containers"]
    ports = {p["name"] for c in containers for p in c.get("ports", [])}
    return pod_labels(workload), ports, monitor["spec"]["podMetricsEndpoints"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_monitors_scrape_the_jobs_the_alerts_read(
    rendered: dict[str, list[Doc]], overlay: str
) -> None:
    """Each scrape job of prometheus.yml but Prometheus' own has a monitor that names its
    targets' job the same, at the same path, interval and timeout."""
    docs = rendered[overlay]
    config = load_yaml(PROMETHEUS_YML)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    del jobs["prometheus"]
    found: dict[str, Doc] = {}
    for monitor in docs:
        if monitor["kind"] in {"ServiceMonitor", "PodMonitor"}:
            target_labels, ports, (endpoint,) = monitored(docs, monitor)
            assert endpoint["port"] in ports
            found[target_labels[monitor["spec"]["jobLabel"]]] = endpoint
    assert set(found) == set(jobs)
    default = config["global"]
    for name, endpoint in found.items():
        job = jobs[name]
        assert endpoint["path"] == job.get("metrics_path", "/metrics")
        assert endpoint["interval"] == job.get("scrape_interval", default["scrape_interval"])
        assert endpoint["scrapeTimeout"] == job.get("scrape_timeout", default["scrape_timeout"])


def test_the_prometheus_rule_is_generated_from_alerts_yml(rendered: dict[str, list[Doc]]) -> None:
    alerts = gen_prometheus_rule.ALERTS.read_text()
    assert gen_prometheus_rule.RULE.read_text() == gen_prometheus_rule.render(alerts), (
        "run `make kubernetes-rules`"
    )
    groups = yaml.safe_load(alerts)["groups"]
    for overlay in OVERLAYS:
        assert find(rendered[overlay], "PrometheusRule", "irisq")["spec"]["groups"] == groups


# --- secrets -------------------------------------------------------------------------------


def source_files() -> Iterator[Path]:
    for path in sorted(KUBERNETES.rglob("*")):
        if path.is_file() and SCHEMAS not in path.parents and path.name != "redis.env":
            yield path


def git_ignored(path: Path) -> bool:
    result = subprocess.run(
        ["git", "check-ignore", "-q", str(path.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
    )
    return result.returncode == 0


def secret_looking(key: str) -> bool:
    """A password's name, or a URL's, which may carry one."""
    return bool(SECRET_NAME.search(key)) or key.endswith("_URL")


def test_no_secret_value_is_written_in_the_files() -> None:
    """No Secret object; generated Secrets read git-ignored files only; no generator's literal
    is a secret; the example leaves the password empty."""
    for path in source_files():
        if path.suffix == ".yaml":
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict):
                    assert doc.get("kind") != "Secret", path
                    for generator in doc.get("secretGenerator", []):
                        for source in generator.get("envs", []) + generator.get("files", []):
                            assert git_ignored(path.parent / source), f"{path}: {source}"
                    generators = doc.get("secretGenerator", []) + doc.get("configMapGenerator", [])
                    for generator in generators:
                        for literal in generator.get("literals", []):
                            assert not secret_looking(literal.partition("=")[0]), literal
        if path.name.endswith(".env.example"):
            for line in path.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep and not line.startswith("#"):
                    assert value == "", f"{path.name} sets {key}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secret_variables_come_from_secrets(rendered: dict[str, list[Doc]], overlay: str) -> None:
    """A password (or a URL that carries one) is a secretKeyRef, or a URL whose password is
    such a variable, put in by the kubelet; every key read from a Secret is there (dev) or is
    one the guide tells production's operator to create."""
    docs = rendered[overlay]
    referenced: set[tuple[str, str]] = set()
    for workload in workloads(docs):
        for spec in workload["spec"]["template"]["spec"]["containers"]:
            from_secrets = set()
            for env in spec.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    from_secrets.add(env["name"])
                    referenced.add((ref["name"], ref["key"]))
                elif secret_looking(env["name"]):
                    userinfo = re.fullmatch(r"redis://:\$\((\w+)\)@[\w.-]+:\d+/\d+", env["value"])
                    assert userinfo, env
                    assert userinfo.group(1) in from_secrets, env
    for auth in named(docs, "TriggerAuthentication").values():
        referenced |= {(ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    for config_map in named(docs, "ConfigMap").values():
        assert not [key for key in config_map.get("data", {}) if secret_looking(key)]
    if overlay == "production":
        assert {name for name, _ in referenced} == {"irisq-redis"}
        assert {key for _, key in referenced} == PRODUCTION_SECRET_KEYS
        assert not named(docs, "Secret"), "production's Secret is made by its operator"
        guide = (ROOT / "docs" / "kubernetes.md").read_text()
        assert all(key in guide for key in PRODUCTION_SECRET_KEYS)
    else:
        secrets = named(docs, "Secret")
        for name, key in referenced:
            assert key in secrets[name]["data"], (name, key)


def test_the_password_is_only_in_the_generated_secret(rendered_text: dict[str, str]) -> None:
    encoded = base64.b64encode(TEST_PASSWORD.encode()).decode()
    assert TEST_PASSWORD not in rendered_text["dev"]
    assert rendered_text["dev"].count(encoded) == 1


# --- the tools -----------------------------------------------------------------------------


def lock_pins(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), from a `uv pip compile --generate-hashes` file."""
    pins = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement, *hashes = re.split(r"\s+--hash=", line)
            name, _, version = requirement.partition(";")[0].partition("==")
            pins[re.sub(r"[-_.]+", "-", name.strip().lower())] = (version.strip(), hashes)
    return pins


def test_the_tools_come_from_their_own_hash_checked_lock() -> None:
    """requirements/kubernetes.txt: kubernetes.in's pins, with hashes, and the packages it
    shares with dev.txt at dev.txt's versions; `make deploy-deps` installs it."""
    lock = lock_pins(ROOT / "requirements" / "kubernetes.txt")
    wanted = (ROOT / "requirements" / "kubernetes.in").read_text().splitlines()
    for line in (line for line in wanted if line and not line.startswith("#")):
        name, _, version = line.partition("==")
        assert lock[name][0] == version, line
    assert all(
        hashes and all(h.startswith("sha256:") for h in hashes) for _, hashes in lock.values()
    )
    dev = lock_pins(ROOT / "requirements" / "dev.txt")
    differ = {
        name for name, (version, _) in lock.items() if name in dev and dev[name][0] != version
    }
    assert differ == set(), "run `make lock`"
    assert "-r $(LOCKS)/kubernetes.txt" in (ROOT / "Makefile").read_text()
