"""A FastAPI route for hot endpoints that read the request themselves.

FastAPI documents subclassing `APIRoute` and overriding `get_route_handler` to customise how
a route handles requests. This one hands the `Request` straight to the endpoint: no
dependency solving, no body reading by FastAPI (~25 µs a request on the cached path, see
docs/performance.md). The OpenAPI document still comes from the route's declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, cast

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.routing import request_response

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class RequestRoute(APIRoute):
    """The endpoint is `async def endpoint(request: Request) -> Response` and does the rest."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        # Starlette's own wrapper, of which FastAPI's is a copy that opens two AsyncExitStacks
        # a request for dependencies with `yield`: these routes have no dependencies
        # (docs/performance.md, eighth round).
        self.app = request_response(self.get_route_handler())

    def get_route_handler(self) -> Endpoint:
        return cast(Endpoint, self.endpoint)
