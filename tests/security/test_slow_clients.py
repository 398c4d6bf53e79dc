"""Slow clients are bounded: the gateway serves MAX_CONNECTIONS at once and refuses the rest
with a 503; nginx, the public entry, closes a connection whose headers come too slowly."""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from scripts.stack import LocalStack, free_port, wait_until
from tests.support.items import fresh_item
from tests.support.metrics import metric
from tests.support.nginx import nginx_in_front_of
from tests.support.stackfiles import NGINX_CONF

MAX_CONNECTIONS = 20
PARTIAL_HEADERS = b"POST /predict HTTP/1.1\r\nHost: gateway\r\nContent-Type: appl"


@contextlib.contextmanager
def slow_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that each sent part of their headers and then nothing more."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(PARTIAL_HEADERS)
            sockets.append(sock)
        time.sleep(0.3)  # every one accepted by the server
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _health(base_url: str) -> httpx.Response:
    return httpx.get(f"{base_url}/health", timeout=5)


def test_past_max_connections_a_request_is_refused_with_503_then_served_again(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    stack.start_gateway(MAX_CONNECTIONS=str(MAX_CONNECTIONS))
    with slow_connections(stack.api_port, MAX_CONNECTIONS - 1) as slow:
        assert _health(stack.base_url).status_code == 200  # the MAX_CONNECTIONS-th
        slow.append(socket.create_connection(("127.0.0.1", stack.api_port), timeout=5))
        slow[-1].sendall(PARTIAL_HEADERS)
        time.sleep(0.3)
        refused = _health(stack.base_url)  # one past the bound
        assert refused.status_code == 503
        assert refused.text == "Service Unavailable"
        assert refused.headers["connection"] == "close"
    # The slow ones gone, their places are free again.
    deadline = time.monotonic() + 5
    while (status := _health(stack.base_url).status_code) != 200:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


@pytest.mark.slow
def test_nginx_closes_a_connection_whose_headers_trickle_in(tmp_path: Path) -> None:
    timeout = re.search(r"client_header_timeout (\d+)s;", NGINX_CONF.read_text())
    assert timeout, "nginx.conf sets no client_header_timeout"
    seconds = int(timeout.group(1))
    assert seconds <= 10
    # The upstream is never reached: headers that never end are nginx's alone to handle.
    with nginx_in_front_of(f"http://127.0.0.1:{free_port()}", tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            opened = time.monotonic()
            closed = None
            request = b"GET /health HTTP/1.1\r\nHost: irisq\r\nX-Slow: " + b"a" * 60
            for byte in request:  # a byte a second, never the end of the headers
                try:
                    sock.sendall(bytes([byte]))
                    sock.settimeout(1.0)
                    if sock.recv(4096) == b"":
                        closed = time.monotonic() - opened
                        break
                except TimeoutError:
                    continue
                except (ConnectionResetError, BrokenPipeError):
                    closed = time.monotonic() - opened
                    break
                # nginx answered something (a 408) and then closes
                closed = time.monotonic() - opened
                break
            assert closed is not None, "nginx kept the connection past a minute"
            assert seconds - 1 <= closed <= seconds + 3, closed


@pytest.mark.slow
def test_nginx_refuses_one_address_past_its_requests_in_progress(
    stack: LocalStack, tmp_path: Path
) -> None:
    conf = NGINX_CONF.read_text()
    assert re.search(r"limit_conn per_address \d+;", conf), "no per-address limit"
    # The same configuration with a bound this test can reach.
    per_address = 4
    small = tmp_path / "nginx.conf"
    small.write_text(
        re.sub(r"limit_conn per_address \d+;", f"limit_conn per_address {per_address};", conf)
    )
    stack.start_redis()
    stack.start_gateway()  # no worker: each sync request stays in progress
    with (
        nginx_in_front_of(stack.base_url, tmp_path / "nginx", conf=small) as url,
        ThreadPoolExecutor(per_address) as pool,
        httpx.Client(base_url=stack.base_url, timeout=10) as direct,
    ):

        def wait_sync(_: int) -> int:
            body = {"items": [fresh_item()]}
            return httpx.post(f"{url}/predict?wait=8", json=body, timeout=30).status_code

        waiting = [pool.submit(wait_sync, n) for n in range(per_address)]
        wait_until(lambda: metric(direct, "irisq_waiting_requests") == per_address, 20, "the waits")
        refused = httpx.post(f"{url}/predict?wait=8", json={"items": [fresh_item()]}, timeout=10)
        assert refused.status_code == 429
        assert [f.result(timeout=30) for f in waiting] == [202] * per_address
