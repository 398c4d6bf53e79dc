"""The one private library internal the gateway relies on, fenced: FastAPI's route wrapper.

`POST /predict` is served by a RequestRoute: FastAPI documents subclassing `APIRoute` and
overriding `get_route_handler`; this one also replaces the ASGI app that `APIRoute.__init__`
builds (FastAPI's copy of Starlette's `request_response`, which solves dependencies and
opens two exit stacks a request) with Starlette's own `request_response` around the
endpoint. The endpoint reads the request itself (gateway/routes/predict.py). That is FastAPI's
internal structure, not its API: in `make bench` the cached path with FastAPI's declared body,
query and header parameters reaches 0.55 of the bare endpoint against 0.90 (docs/performance.md).

The hook is used only with the FastAPI versions it was checked against (FASTAPI_CHECKED);
with any other the route is a plain APIRoute (the endpoint takes a `Request`, which FastAPI
passes as it is) and the gateway logs a warning at start. tests/gateway/test_fenced_internals.py
fails when the installed FastAPI is not one of them or no longer builds routes this way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import fastapi
from fastapi.routing import APIRoute
from starlette.routing import request_response

log = logging.getLogger("irisq.gateway")

# Major.minor versions of FastAPI whose APIRoute this hook was checked against.
FASTAPI_CHECKED = ("0.165",)


def fastapi_checked(version: str = fastapi.__version__) -> bool:
    return ".".join(version.split(".")[:2]) in FASTAPI_CHECKED


def warn_if_unchecked() -> None:
    if not fastapi_checked():
        log.warning(
            "FastAPI %s is not one of the versions %s that irisq's fast route was checked "
            "against: POST /predict takes FastAPI's public, slower path",
            fastapi.__version__,
            ", ".join(FASTAPI_CHECKED),
        )


class RequestRoute(APIRoute):
    """A route whose endpoint is `async def endpoint(request: Request) -> Response`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if fastapi_checked():
            self.app = request_response(endpoint)
