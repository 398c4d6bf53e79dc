"""compose.yaml is a valid Compose file: the specification's schema and docker-compose agree."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.stackfiles import COMPOSE, ROOT, compose
from tests.support.tools import system_tool, venv_tool

# In CI the repository is cloned to X/main with shared/ copied to X/shared.
SHARED_SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
PASSWORDS = {"REDIS_PASSWORD": "deploytest0123", "GRAFANA_ADMIN_PASSWORD": "deploytest4567"}


def docker_compose(args: list[str], env_file: Path) -> subprocess.CompletedProcess[str]:
    binary = system_tool("docker-compose", "deploy-deps")
    # A developer's own .env must not decide the outcome: --env-file replaces it.
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(env_file.parent)},
    )


def test_compose_validates_against_the_compose_specification() -> None:
    if SHARED_SCHEMA.exists():
        schema = ["--schemafile", str(SHARED_SCHEMA)]
    else:  # check-jsonschema carries a copy of the same schema
        schema = ["--builtin-schema", "vendor.compose-spec"]
    result = subprocess.run(
        [venv_tool("check-jsonschema"), *schema, str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    env_file = tmp_path / "deploy.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in PASSWORDS.items()))
    result = docker_compose(["config", "-q"], env_file)
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_without_the_passwords(tmp_path: Path) -> None:
    for missing in PASSWORDS:
        env_file = tmp_path / f"without-{missing}.env"
        env_file.write_text(
            "".join(f"{k}={'' if k == missing else v}\n" for k, v in PASSWORDS.items())
        )
        result = docker_compose(["config", "-q"], env_file)
        assert result.returncode != 0, f"compose started with an empty {missing}"
        assert missing in result.stderr


def test_there_is_no_top_level_name_for_docker_compose_1_29() -> None:
    assert "name" not in compose()
    assert "version" not in compose(), "`version` is obsolete in the Compose specification"
