"""A real nginx running frontend/nginx.conf in front of a gateway, as the frontend image does."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx

from scripts.stack import free_port, wait_until
from tests.support.stackfiles import NGINX_CONF
from tests.support.tools import system_tool

# The gateway's address in nginx.conf: the compose service and its port.
GATEWAY_TARGET = "http://gateway:8000"


def nginx_binary() -> str:
    return system_tool("nginx", "deploy-deps")


def wrapped_config(workdir: Path, server_block: str) -> Path:
    """The image's main config around our server block: one unprivileged process, files here."""
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
master_process off;
pid {workdir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
{server_block}
}}
"""
    )
    return conf


@contextlib.contextmanager
def nginx_in_front_of(upstream: str, workdir: Path, conf: Path = NGINX_CONF) -> Iterator[str]:
    """nginx with `conf` (frontend/nginx.conf), the gateway's address swapped for `upstream`;
    its base URL."""
    html = workdir / "html"
    (html / "assets").mkdir(parents=True)
    (html / "index.html").write_text("<!doctype html><title>irisq</title><div id=root></div>")
    (html / "assets" / "app-0123abcd.js").write_text("console.log('irisq')\n")
    port = free_port()
    block = (
        conf.read_text()
        .replace(GATEWAY_TARGET, upstream)
        .replace("listen 5174;", f"listen 127.0.0.1:{port};")
        .replace("root /usr/share/nginx/html;", f"root {html};")
    )
    with running_nginx(workdir, block):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def running_nginx(workdir: Path, block: str, healthz_port: int | None = None) -> Iterator[None]:
    """A real nginx with `block` inside its `http` level, until the context ends; ready once
    its /healthz answers on `healthz_port` (by default the block's first `listen` port)."""
    if healthz_port is None:
        found = re.search(r"listen\s+(?:[\d.]+:)?(\d+)", block)
        assert found, "no listen port in the block"
        healthz_port = int(found.group(1))
    conf = wrapped_config(workdir, block)
    log = (workdir / "nginx.log").open("wb")
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(workdir), "-c", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{healthz_port}/healthz"
    try:
        wait_until(lambda: httpx.get(url, timeout=1).status_code == 200, 10, "nginx")
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
