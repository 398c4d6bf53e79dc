"""The three Dockerfiles: linted, pinned, non-root, healthchecked, and running the same
commands as `make run`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from scripts.stack import SERVICE_COMMANDS
from tests.deploy import dockerfile
from tests.support.stackfiles import BUILT, ROOT, dockerignored, services
from tests.support.tools import venv_tool

DOCKERFILES = sorted(BUILT.items())
IDS = [name for name, _ in DOCKERFILES]


def final_stage(path: Path) -> dockerfile.Stage:
    return dockerfile.parse(path)[-1]


@pytest.mark.parametrize(("name", "path"), DOCKERFILES, ids=IDS)
def test_hadolint_passes(name: str, path: Path) -> None:
    result = subprocess.run(
        [venv_tool("hadolint"), "--no-color", "--failure-threshold", "warning", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("name", "path"), DOCKERFILES, ids=IDS)
def test_the_image_runs_as_a_non_root_user(name: str, path: Path) -> None:
    user = final_stage(path).last("USER")
    assert user is not None, f"{name}: no USER in the final stage"
    account = user.args.split(":")[0]
    assert account not in {"root", "0", ""}, f"{name} runs as {user.args}"


@pytest.mark.parametrize(("name", "path"), DOCKERFILES, ids=IDS)
def test_the_image_has_a_healthcheck(name: str, path: Path) -> None:
    check = final_stage(path).last("HEALTHCHECK")
    assert check is not None
    options = dockerfile.healthcheck_options(check.args)
    assert {"interval", "timeout", "retries"} <= set(options), options
    assert check.exec_form(), "HEALTHCHECK without a command"


@pytest.mark.parametrize(("name", "path"), DOCKERFILES, ids=IDS)
def test_base_images_are_pinned(name: str, path: Path) -> None:
    stages = dockerfile.parse(path)
    aliases = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.base not in aliases:
            assert dockerfile.is_pinned(stage.base), f"{name}: FROM {stage.base}"


@pytest.mark.parametrize(("name", "path"), DOCKERFILES, ids=IDS)
def test_images_are_built_in_stages(name: str, path: Path) -> None:
    """Build tools, caches and sources stay in the build stage; the final one gets results."""
    stages = dockerfile.parse(path)
    assert len(stages) >= 2
    copies = [c.args for c in stages[-1].all("COPY")]
    assert any(c.startswith("--from=") for c in copies), copies


@pytest.mark.parametrize("name", ["gateway", "worker"])
def test_python_images_copy_the_virtualenv_between_identical_bases(name: str) -> None:
    """A virtualenv points at its interpreter's path: both stages must have the same one."""
    stages = dockerfile.parse(BUILT[name])
    assert len({s.base for s in stages}) == 1


@pytest.mark.parametrize("name", ["gateway", "worker"])
def test_python_images_install_their_own_lock_and_nothing_else(name: str) -> None:
    """Dependencies only from the image's hash-checked lock (tests/deploy/test_locks.py checks
    what it holds); the project itself without any, never editable."""
    installs = [
        part.strip()
        for s in dockerfile.parse(BUILT[name])
        for r in s.all("RUN")
        for part in r.args.split("&&")
        if "pip install" in part
    ]
    lock = f"-r requirements/{name}.txt"
    assert any(lock in command for command in installs), installs
    for command in installs:
        assert not re.search(r"\[[a-z,]+\]", command), f"{name} installs extras: {command}"
        assert "-e " not in command
        assert "--editable" not in command
        if " -r " in command:
            assert "--require-hashes" in command, command
            assert command.endswith(lock), f"{name} installs another lock: {command}"
        else:
            assert "--no-deps" in command, f"{name} installs unlocked dependencies: {command}"


@pytest.mark.parametrize("name", ["gateway", "worker"])
def test_the_image_runs_the_same_command_as_make_run(name: str) -> None:
    cmd = final_stage(BUILT[name]).last("CMD")
    assert cmd is not None
    assert cmd.exec_form() == SERVICE_COMMANDS[name]
    assert final_stage(BUILT[name]).last("ENTRYPOINT") is None
    service = services()[name]
    assert "command" not in service, "compose overrides the image's command"
    assert "entrypoint" not in service, "compose overrides the image's entrypoint"


def test_the_worker_image_builds_its_registry_with_the_registry_commands() -> None:
    """The image's registry holds one version trained and served by the commands a user runs
    (`python -m worker.models`), where MODEL_DIR points."""
    stages = dockerfile.parse(BUILT["worker"])
    runs = " ".join(r.args for s in stages for r in s.all("RUN"))
    model_dir = re.search(r"python -m worker\.models --model-dir (\S+) train", runs)
    assert model_dir, runs
    assert f"python -m worker.models --model-dir {model_dir.group(1)} promote" in runs
    final = stages[-1]
    assert final.env()["MODEL_DIR"] == model_dir.group(1)
    copied = [c.args for c in final.all("COPY")]
    assert any(c.split()[-1] == model_dir.group(1) for c in copied), copied


def test_the_gateway_image_listens_on_all_interfaces_at_the_agreed_ports() -> None:
    """HTTP on 8000, the Open Inference Protocol over gRPC on 8001 (as Triton's)."""
    env = final_stage(BUILT["gateway"]).env()
    assert env["API_HOST"] == "0.0.0.0"
    assert env["API_PORT"] == "8000"
    assert env["GRPC_HOST"] == "0.0.0.0"
    assert env["GRPC_PORT"] == "8001"
    expose = final_stage(BUILT["gateway"]).last("EXPOSE")
    assert expose is not None
    assert expose.args.split() == ["8000", "8001"]


@pytest.mark.parametrize(("name", "path"), DOCKERFILES, ids=IDS)
def test_every_copied_path_reaches_the_build(name: str, path: Path) -> None:
    """COPY sources exist in the repository and .dockerignore does not hide them."""
    for stage in dockerfile.parse(path):
        for copy in stage.all("COPY"):
            words = [w for w in copy.args.split() if not w.startswith("--")]
            if copy.args.startswith("--from="):
                continue
            for source in words[:-1]:
                assert (ROOT / source).exists(), f"{name}: COPY {source}: missing"
                assert not dockerignored(source.rstrip("/")), source


@pytest.mark.parametrize(
    "local",
    [".venv", ".run", "model", "test-artifacts", ".git", "frontend/node_modules", "frontend/dist"],
)
def test_dockerignore_keeps_local_state_out_of_the_images(local: str) -> None:
    assert dockerignored(local)


def test_dockerignore_lets_the_sources_in() -> None:
    needed_paths = (
        "pyproject.toml",
        "requirements",
        "contract",
        "gateway",
        "worker",
        "frontend/src",
    )
    for needed in needed_paths:
        assert not dockerignored(needed), needed
