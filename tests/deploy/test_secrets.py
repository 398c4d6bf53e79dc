"""No secret is written in the repository: compose takes them from the environment."""

from __future__ import annotations

import re
import subprocess

from tests.support.stackfiles import (
    COMPOSE,
    DOCKERIGNORE,
    ENV_EXAMPLE,
    ROOT,
    env_example,
    environment,
    interpolations,
    services,
    variables,
)

SECRET_NAME = re.compile(r"(^|_)(PASSWORD|SECRET|TOKEN|AUTH|API_KEY|PRIVATE_KEY)$")
SECRETS = {"REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}


def test_secret_settings_come_only_from_required_variables() -> None:
    """Each secret-looking setting is `${VAR:?...}`: no literal, and no default to fall back on."""
    for name, service in services().items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                found = interpolations(value)
                assert found, f"{name}.{key} is a literal"
                assert all(modifier.startswith(":?") for _, modifier in found), (name, key)


def test_no_url_in_compose_carries_a_literal_password() -> None:
    text = COMPOSE.read_text()
    for userinfo in re.findall(r"[a-z]+://([^@/\s]*)@", text):
        assert userinfo.startswith(":${") or userinfo.startswith("${"), userinfo


def test_secret_variables_have_no_default_anywhere_in_compose() -> None:
    for variable, modifier in interpolations(COMPOSE.read_text()):
        if variable in SECRETS:
            assert modifier.startswith(":?"), f"${{{variable}{modifier}}} has a fallback"


def test_env_example_lists_every_variable_compose_uses_and_no_other() -> None:
    assert set(env_example()) == variables(COMPOSE.read_text())


def test_env_example_leaves_the_secrets_empty() -> None:
    example = env_example()
    for variable in SECRETS:
        assert example[variable] == "", f"{ENV_EXAMPLE.name} sets {variable}"


def test_dot_env_stays_out_of_git_and_out_of_images() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=ROOT, capture_output=True, timeout=30
    )
    assert ignored.returncode == 0, ".env is not in .gitignore"
    patterns = DOCKERIGNORE.read_text().splitlines()
    assert ".env" in patterns
    assert "!.env.example" in patterns or ".env.*" not in patterns
