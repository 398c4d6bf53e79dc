"""`python -m gateway`: the one command that serves the gateway, locally and in its image."""

from __future__ import annotations

import logging
import resource
import socket
import sys

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from gateway.app import create_app, drain
from gateway.settings import Settings

# Past this, uvicorn cancels the requests still running (their clients get a 500).
GRACEFUL_SHUTDOWN_SECONDS = 10
# Descriptors the process holds besides client connections and Redis' pool: the subscription,
# Celery's publisher and its events, logs, the listening socket.
OTHER_DESCRIPTORS = 32

log = logging.getLogger("irisq.gateway")


class GatewayServer(uvicorn.Server):
    """uvicorn's server, releasing the requests that wait for a job as soon as it stops.

    uvicorn's graceful shutdown waits for running requests up to its timeout, then cancels
    them. `Server.shutdown` is where every stop begins (a signal, a request limit), on the
    event loop, before the connections are told to close: releasing the waiting requests
    there answers each with its 202 and job id at once, instead of a 500 at the timeout.
    (`handle_exit` would run as a signal handler, between any two steps of the loop, where
    resolving futures is not safe.)
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        drain(self.app)
        await super().shutdown(sockets)


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
    server = GatewayServer(config, app)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)  # as uvicorn.run does


if __name__ == "__main__":
    main()
