"""The frontend container serves the app and passes the API paths to the gateway service."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gateway.dispatcher import create_celery_client
from gateway.settings import Settings
from scripts.stack import LocalStack, free_port
from tests.deploy import dockerfile
from tests.support.event_streams import open_jobs, send_jobs, stream
from tests.support.items import SETOSA, fresh_item
from tests.support.nginx import GATEWAY_TARGET, nginx_binary, nginx_in_front_of, wrapped_config
from tests.support.stackfiles import (
    BUILT,
    COMPOSE,
    NGINX_CONF,
    VITE_CONFIG,
    container_ports,
    environment,
    services,
)


def proxied_paths(text: str, pattern: str) -> set[str]:
    found = re.search(pattern, text)
    assert found, f"no proxied path list ({pattern})"
    return set(found.group(1).split("|"))


def nginx_paths() -> set[str]:
    return proxied_paths(NGINX_CONF.read_text(), r"location ~ \^/\(([a-z|]+)\)\(/\|\$\)")


def test_nginx_proxies_to_the_gateway_service_port() -> None:
    conf = NGINX_CONF.read_text()
    assert re.search(rf"set \$gateway {re.escape(GATEWAY_TARGET)};", conf)
    assert re.search(r"proxy_pass \$gateway;", conf)
    host, _, port = GATEWAY_TARGET.removeprefix("http://").partition(":")
    assert int(port) in container_ports(services()[host])


def test_nginx_proxies_the_paths_the_vite_dev_server_proxies_but_ready() -> None:
    # /ready pings every worker: the public proxy keeps it for the API port (SECURITY.md);
    # the development server is local and passes it on.
    vite = proxied_paths(VITE_CONFIG.read_text(), r'API_PATHS = "\^/\(([a-z|]+)\)')
    assert nginx_paths() == vite - {"ready"} == {"predict", "jobs", "model", "health"}


def test_nginx_listens_on_the_published_port() -> None:
    listen = re.findall(r"^\s*listen\s+(\d+)\s*;", NGINX_CONF.read_text(), flags=re.M)
    assert listen == ["5174"]
    assert 5174 in container_ports(services()["frontend"])


def test_the_app_is_built_to_call_its_own_origin() -> None:
    """VITE_API_BASE stays unset: no build arg, env, or .env file gives it a value."""
    frontend = BUILT["frontend"].parent
    for stage in dockerfile.parse(BUILT["frontend"]):
        for instruction in stage.instructions:
            assert "VITE_API_BASE" not in instruction.args, instruction
    assert "VITE_API_BASE" not in COMPOSE.read_text()
    assert "build" in services()["frontend"]
    assert "args" not in services()["frontend"]["build"]
    for env_file in frontend.glob(".env*"):
        assert "VITE_API_BASE" not in env_file.read_text(), env_file
    assert not environment(services()["frontend"]), "the frontend needs no settings"


def test_the_image_copies_this_nginx_conf() -> None:
    final = dockerfile.parse(BUILT["frontend"])[-1]
    copies = [c.args.split() for c in final.all("COPY")]
    assert ["frontend/nginx.conf", "/etc/nginx/conf.d/default.conf"] in copies


# --- the configuration, run by a real nginx ------------------------------------------------


def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    conf = wrapped_config(tmp_path, NGINX_CONF.read_text())
    result = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def frontend_url(
    running_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with nginx_in_front_of(running_stack.base_url, tmp_path_factory.mktemp("nginx")) as url:
        yield url


def test_the_app_and_its_client_side_routes_get_index_html(frontend_url: str) -> None:
    for path in ("/", "/some/client/route"):
        response = httpx.get(frontend_url + path, timeout=10)
        assert response.status_code == 200
        assert "<title>irisq</title>" in response.text
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_hashed_assets_are_cached_for_good(frontend_url: str) -> None:
    response = httpx.get(frontend_url + "/assets/app-0123abcd.js", timeout=10)
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert httpx.get(frontend_url + "/assets/missing.js", timeout=10).status_code == 404


def test_api_paths_reach_the_gateway(frontend_url: str, running_stack: LocalStack) -> None:
    with httpx.Client(base_url=frontend_url, timeout=30) as http:
        direct = httpx.get(running_stack.base_url + "/model", timeout=10)
        assert http.get("/model").json() == direct.json()
        assert http.get("/health").status_code == 200
        predicted = http.post("/predict?wait=20", json={"items": [SETOSA]})
        assert predicted.status_code == 200, predicted.text
        assert predicted.json()["items"][0]["prediction"] == "setosa"
        # A fresh item, so the job really goes through the queue.
        queued = http.post("/predict", params={"mode": "async"}, json={"items": [fresh_item()]})
        assert queued.status_code == 202, queued.text
        assert queued.headers["location"] == f"/jobs/{queued.json()['job_id']}"
        job_id = queued.json()["job_id"]
        deadline = time.monotonic() + 20
        while http.get(f"/jobs/{job_id}").json()["status"] != "done":
            assert time.monotonic() < deadline, "job never finished"
            time.sleep(0.1)
        unknown = http.get("/jobs/not-a-job")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")


def test_job_events_pass_through_nginx_as_they_come(
    frontend_url: str, running_stack: LocalStack
) -> None:
    with redis.Redis.from_url(str(running_stack.redis_url)) as store:
        (job_id,) = open_jobs(store, 1)
    celery = create_celery_client(Settings(redis_url=str(running_stack.redis_url)))
    try:
        # Each read waits less than the gateway's keep-alive (15 s): an event held back in a
        # buffer until more data comes would time out.
        with (
            httpx.Client(base_url=frontend_url, timeout=10) as http,
            stream(http, job_id, timeout=30) as events,
        ):
            # No task carries the job yet: its first event arrives while the stream is open.
            queued = events.next()
            assert queued is not None
            assert queued.name == "queued"
            send_jobs(celery, [job_id])
            assert [e.name for e in events.rest()] == ["running", "done"]
    finally:
        celery.close()


def test_nginx_keeps_event_streams_unbuffered_and_open_past_the_keep_alive() -> None:
    pattern = r"location ~ \^/jobs/[^{]*/events\$ \{(.*?)\n    \}"
    block = re.search(pattern, NGINX_CONF.read_text(), flags=re.S)
    assert block, "no location for the job event streams"
    assert "proxy_buffering off;" in block.group(1)
    assert "proxy_http_version 1.1;" in block.group(1)
    timeout = re.search(r"proxy_read_timeout (\d+)m;", block.group(1))
    assert timeout
    keepalive = Settings.model_fields["event_keepalive_seconds"].default
    assert int(timeout.group(1)) * 60 >= 4 * keepalive


def test_ready_stays_off_the_public_proxy(frontend_url: str, running_stack: LocalStack) -> None:
    assert httpx.get(running_stack.base_url + "/ready", timeout=10).status_code == 200
    for path in ("/ready", "/ready?verbose=1"):
        response = httpx.get(frontend_url + path, timeout=10)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404
        assert "checks" not in response.json()


def test_paths_that_only_look_like_api_paths_stay_with_the_app(frontend_url: str) -> None:
    for path in ("/metrics", "/docs", "/models", "/jobsearch"):
        response = httpx.get(frontend_url + path, timeout=10)
        assert response.status_code == 200
        assert "<title>irisq</title>" in response.text, f"{path} was proxied"


def test_nginx_refuses_bodies_above_the_gateways_limit_as_the_gateway_would() -> None:
    """The same limit as the gateway's, so every oversized body gets one deterministic answer."""
    limit = re.search(r"client_max_body_size (\d+)k;", NGINX_CONF.read_text())
    assert limit
    assert int(limit.group(1)) * 1024 == Settings.model_fields["max_body_bytes"].default
    assert "MAX_BODY_BYTES" not in environment(services()["gateway"])


def _body(size: int) -> bytes:
    """Valid JSON of exactly `size` bytes: an empty item list padded with spaces."""
    return b'{"items": [' + b" " * (size - len(b'{"items": []}')) + b"]}"


def test_oversized_bodies_get_a_problem_413(frontend_url: str) -> None:
    limit = Settings.model_fields["max_body_bytes"].default
    for _ in range(3):  # a race would show up as an occasional 502
        response = httpx.post(
            frontend_url + "/predict",
            content=_body(limit + 1),
            headers={"content-type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 413
    at_limit = httpx.post(
        frontend_url + "/predict",
        content=_body(limit),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert at_limit.status_code == 422, "a body at the limit reaches the gateway's validation"


def test_a_gateway_that_is_down_gives_a_problem_503(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with nginx_in_front_of(nobody, tmp_path) as url:
        response = httpx.get(url + "/health", timeout=10)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"
        assert response.json()["status"] == 503
        assert httpx.get(url + "/", timeout=10).status_code == 200, "the app still loads"
