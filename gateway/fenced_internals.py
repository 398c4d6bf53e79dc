"""The library internals the gateway relies on, fenced in one place.

Each is used only with the library versions it was checked against (CHECKED, major.minor);
with any other the gateway takes the public path named below and logs a warning at start.
tests/gateway/test_fenced_internals.py fails when an installed library is not a checked
version or no longer has the structure relied on. The measured reasons are in
docs/optimisations.md ("Library internals").

- FastAPI, the route wrapper: `POST /predict` is served by a RequestRoute. FastAPI documents
  subclassing `APIRoute` and overriding `get_route_handler`; this one also replaces the ASGI
  app that `APIRoute.__init__` builds (FastAPI's copy of Starlette's `request_response`, which
  solves dependencies and opens two exit stacks a request) with Starlette's own
  `request_response` around the endpoint, which reads the request itself
  (gateway/routes/predict.py). Public path: a plain APIRoute (the endpoint takes a `Request`,
  which FastAPI passes as it is), markedly slower on the cached path.
- uvicorn, the stop: `Server.shutdown` is where every stop begins (a signal, a request limit),
  on the event loop, before the connections are told to close. Releasing the requests that
  wait for a job there answers each with its 202 and job id at once; uvicorn's graceful
  shutdown would otherwise wait for them up to its timeout, then cancel them (a 500).
  (`handle_exit` runs as a signal handler, between any two steps of the loop, where resolving
  futures is not safe.) `Server.started` says whether it started, as `uvicorn.run` reads it.
  Public path: a plain `uvicorn.Server`, whose waiting requests end at the graceful timeout.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import fastapi
import uvicorn
from fastapi.routing import APIRoute
from starlette.routing import request_response

log = logging.getLogger("irisq.gateway")

# Major.minor versions of each library whose internals were checked.
CHECKED = {"fastapi": ("0.165",), "uvicorn": ("0.54",)}
INSTALLED = {"fastapi": fastapi.__version__, "uvicorn": uvicorn.__version__}
# What each library's internal is for, and the public path taken without it.
FALLBACKS = {
    "fastapi": "POST /predict takes FastAPI's public, slower path",
    "uvicorn": "requests waiting for a job end at the graceful timeout when the gateway stops",
}
# uvicorn.run's exit status when the server could not start.
STARTUP_FAILURE = 3


def checked(library: str, version: str | None = None) -> bool:
    version = INSTALLED[library] if version is None else version
    return ".".join(version.split(".")[:2]) in CHECKED[library]


def warn_if_unchecked() -> None:
    for library, fallback in FALLBACKS.items():
        if not checked(library):
            log.warning(
                "%s %s is not one of the versions %s that irisq was checked against: %s",
                library,
                INSTALLED[library],
                ", ".join(CHECKED[library]),
                fallback,
            )


class RequestRoute(APIRoute):
    """A route whose endpoint is `async def endpoint(request: Request) -> Response`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if checked("fastapi"):
            self.app = request_response(endpoint)


class _StoppingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_stop = on_stop

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.on_stop()
        await super().shutdown(sockets)


def server(config: uvicorn.Config, on_stop: Callable[[], None]) -> uvicorn.Server:
    """uvicorn's server, calling `on_stop` first thing when it stops (a checked uvicorn)."""
    if checked("uvicorn"):
        return _StoppingServer(config, on_stop)
    return uvicorn.Server(config)


def exit_status(server: uvicorn.Server) -> int:
    """What the process exits with once `server.run()` returned, as `uvicorn.run` does."""
    started = server.started if checked("uvicorn") else True
    return 0 if started else STARTUP_FAILURE
