"""The app's route table: every path operation sits flat on the app's own router.

Since FastAPI 0.137 `include_router` keeps the included router as a node that every request
resolves through (~55,000 instructions a request, docs/performance.md, eighth round), where a
route on the app's router is matched directly, as `@app.post` would add it.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request, Response
from starlette.routing import Route
from starlette.types import Message

from gateway.app import create_app
from gateway.routing import RequestRoute
from gateway.settings import Settings


def test_every_route_is_on_the_apps_own_router() -> None:
    app = create_app(Settings())
    paths = set()
    for route in app.router.routes:
        assert isinstance(route, Route), f"{route!r} is not a route of the app's own router"
        paths.add(route.path)
    assert {"/predict", "/jobs/{job_id}", "/model", "/health", "/ready", "/metrics"} <= paths


def test_a_request_route_opens_no_dependency_exit_stacks() -> None:
    # FastAPI's own wrapper opens two AsyncExitStacks a request for dependencies with
    # `yield`; a RequestRoute has none and uses Starlette's wrapper.
    seen: dict[str, object] = {}

    async def endpoint(request: Request) -> Response:
        seen.update(request.scope)
        return Response(b"{}", media_type="application/json")

    app = FastAPI()
    app.router.routes.append(RequestRoute("/hot", endpoint, methods=["POST"]))
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/hot", "headers": [], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    assert seen["path"] == "/hot"
    assert "fastapi_inner_astack" not in seen
    assert "fastapi_function_astack" not in seen
