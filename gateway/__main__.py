"""`python -m gateway`: the one command that serves the gateway, locally and in its image."""

from __future__ import annotations

import logging
import resource
import socket
import sys

import uvicorn

from gateway import fenced_internals
from gateway.app import create_app, drain
from gateway.settings import Settings

# Past this, uvicorn cancels the requests still running (their clients get a 500).
GRACEFUL_SHUTDOWN_SECONDS = 10
# Descriptors the process holds besides client connections and Redis' pool: the subscription,
# Celery's publisher and its events, logs, the listening socket.
OTHER_DESCRIPTORS = 32

log = logging.getLogger("irisq.gateway")


def shared_socket(host: str, port: int) -> socket.socket:
    """The API port, bound so that other gateway processes may bind it too (REUSE_PORT): the
    kernel hands each new connection to one of them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    descriptors, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if settings.max_connections + settings.redis_max_connections + OTHER_DESCRIPTORS > descriptors:
        log.warning(
            "MAX_CONNECTIONS (%d) is too close to this process's descriptor limit (%d): "
            "past it connections fail instead of getting a 503",
            settings.max_connections,
            descriptors,
        )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # uvicorn answers 503 once its connections (this one included) reach the limit.
        limit_concurrency=settings.max_connections + 1,
    )
    # When it stops, the requests that wait for a job answer 202 with it at once
    # (gateway/fenced_internals.py).
    server = fenced_internals.server(config, on_stop=lambda: drain(app))
    if settings.reuse_port:
        server.run(sockets=[shared_socket(settings.api_host, settings.api_port)])
    else:
        server.run()
    sys.exit(fenced_internals.exit_status(server))


if __name__ == "__main__":
    main()
