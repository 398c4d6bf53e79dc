"""Where the deployment's files are, and readers for compose.yaml and its neighbours."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from scripts.stack import ROOT

COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
NGINX_CONF = ROOT / "frontend" / "nginx.conf"
# The gateway replicas' load balancer in compose (the gateway-lb service).
GATEWAY_LB_CONF = ROOT / "deploy" / "compose" / "gateway-lb.conf"
VITE_CONFIG = ROOT / "frontend" / "vite.config.ts"

# The agreed paths of the monitoring files (written by the monitoring work).
PROMETHEUS_YML = ROOT / "monitoring" / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCE = ROOT / "monitoring/grafana/provisioning/datasources/datasource.yml"
GRAFANA_DASHBOARDS_PROVIDER = ROOT / "monitoring/grafana/provisioning/dashboards/dashboards.yml"
GRAFANA_DASHBOARD = ROOT / "monitoring" / "grafana" / "dashboards" / "irisq.json"

SERVICES = {
    "redis", "gateway", "gateway-lb", "worker", "models", "celery-exporter", "prometheus",
    "grafana", "frontend",
}  # fmt: skip
# Services run on demand (`docker compose run --rm NAME ...`), never by `compose up`: they have
# no healthcheck, restart policy or resource limits of a long-running service.
TOOLS = {"models"}
# The services built from this repository, and their Dockerfiles.
BUILT = {
    "gateway": ROOT / "gateway" / "Dockerfile",
    "worker": ROOT / "worker" / "Dockerfile",
    "frontend": ROOT / "frontend" / "Dockerfile",
}

# ${VAR}, ${VAR:-default}, ${VAR:?message}, $VAR; `$$` is a literal dollar for the container.
_INTERPOLATION = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|([A-Za-z_]\w*))")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE)
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def variables(text: str) -> set[str]:
    """The environment variables a compose text interpolates."""
    return {m.group(1) or m.group(3) for m in _INTERPOLATION.finditer(text)}


def interpolations(text: str) -> list[tuple[str, str]]:
    """(variable, modifier) pairs, e.g. ("REDIS_PASSWORD", ":?set it")."""
    return [(m.group(1) or m.group(3), m.group(2) or "") for m in _INTERPOLATION.finditer(text)]


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example line without '=': {line!r}"
            values[key.strip()] = value.strip()
    return values


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): str(v) for k, v in env.items()}


def container_ports(service: dict[str, Any]) -> set[int]:
    """Ports the service listens on inside the network: `expose` and the container side of
    `ports`."""
    ports = {int(str(p).split("/")[0]) for p in service.get("expose", [])}
    for mapping in service.get("ports", []):
        target = mapping["target"] if isinstance(mapping, dict) else str(mapping).rsplit(":", 1)[-1]
        ports.add(int(str(target).split("/")[0]))
    return ports


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts (named volumes left out)."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((volume["source"], volume["target"]))
            continue
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def seconds(duration: str | int | float) -> float:
    """A compose duration ("45s", "1m30s", "500ms") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts, f"bad duration {duration!r}"
    assert "".join(n + u for n, u in parts) == duration, f"bad duration {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore pattern as a regex: `*` and `?` stay within a path part, `**`
    spans parts, `[...]` is a class; patterns are relative to the build context."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i:]:
            close = pattern.index("]", i)
            out, i = out + pattern[i : close + 1], close + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative to the root) out of the build context.

    The last matching pattern wins; `!` re-includes; a matched folder takes its contents.
    """
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in dockerignore_patterns():
        negate = pattern.startswith("!")
        regex = _glob_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored
