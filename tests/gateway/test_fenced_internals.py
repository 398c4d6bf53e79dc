"""The gateway's fenced library internals (gateway/fenced_internals.py) still hold.

These fail when FastAPI or uvicorn changes underneath them: a new version must be
checked (and added to CHECKED) before its internal is used with it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

import pytest
import uvicorn
import uvicorn.config
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message

from gateway import fenced_internals
from gateway.fenced_internals import (
    CHECKED,
    INSTALLED,
    STARTUP_FAILURE,
    RequestRoute,
    checked,
)


@pytest.mark.parametrize("library", sorted(CHECKED))
def test_each_installed_library_is_a_version_its_internal_was_checked_against(
    library: str,
) -> None:
    assert checked(library), (
        f"{library} {INSTALLED[library]} is not in CHECKED {CHECKED[library]}: check its "
        "internal against it (the tests below) and add it"
    )


@pytest.mark.parametrize("library", sorted(CHECKED))
def test_other_versions_are_not_checked(library: str) -> None:
    assert not checked(library, "0.0.1")
    assert not checked(library, "99.0.0")


def _call(app: FastAPI, path: str) -> tuple[int, dict[str, object]]:
    seen: dict[str, object] = {}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""}
    app.state.seen = seen
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], seen


async def _endpoint(request: Request) -> Response:
    request.app.state.seen.update(request.scope)
    return Response(b"{}", media_type="application/json")


def test_apiroute_still_wraps_endpoints_in_fastapis_own_request_handler() -> None:
    # What the hook replaces: FastAPI's wrapper, which opens its exit stacks a request.
    app = FastAPI()
    app.router.routes.append(APIRoute("/plain", _endpoint, methods=["POST"]))
    status, scope = _call(app, "/plain")
    assert status == 200
    assert "fastapi_inner_astack" in scope
    assert "fastapi_function_astack" in scope


def test_a_request_route_calls_its_endpoint_through_starlette_alone() -> None:
    app = FastAPI()
    app.router.routes.append(RequestRoute("/hot", _endpoint, methods=["POST"]))
    status, scope = _call(app, "/hot")
    assert status == 200
    assert scope["path"] == "/hot"
    assert "fastapi_inner_astack" not in scope
    assert "fastapi_function_astack" not in scope


def test_an_unchecked_fastapi_gets_a_plain_route_and_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(fenced_internals.CHECKED, "fastapi", ("0.0",))
    app = FastAPI()
    app.router.routes.append(RequestRoute("/hot", _endpoint, methods=["POST"]))
    status, scope = _call(app, "/hot")
    assert status == 200
    assert "fastapi_inner_astack" in scope
    with caplog.at_level(logging.WARNING, logger="irisq.gateway"):
        fenced_internals.warn_if_unchecked()
    assert "public, slower path" in caplog.text


def _config() -> uvicorn.Config:
    return uvicorn.Config(FastAPI(), host="127.0.0.1", port=0, log_level="warning")


def test_uvicorns_server_still_stops_through_shutdown_and_says_whether_it_started() -> None:
    # What the stop hook overrides and reads: a coroutine method taking the sockets, and the
    # flag uvicorn.run exits on, with the status the gateway exits with.
    shutdown = uvicorn.Server.shutdown
    assert inspect.iscoroutinefunction(shutdown)
    assert list(inspect.signature(shutdown).parameters) == ["self", "sockets"]
    assert uvicorn.Server(_config()).started is False
    assert uvicorn.config.STARTUP_FAILURE == STARTUP_FAILURE
    assert "server.started" in inspect.getsource(uvicorn.run)


def _serve_then_stop(server: uvicorn.Server) -> None:
    """A real server on a free port, started, then stopped as a signal would stop it."""

    async def run() -> None:
        serving = asyncio.create_task(server.serve())
        # `started` is a plain flag: there is no event to wait on.
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        server.should_exit = True
        await serving

    asyncio.run(run())


def test_the_gateways_server_calls_on_stop_when_it_stops() -> None:
    stopped: list[bool] = []
    server = fenced_internals.server(_config(), on_stop=lambda: stopped.append(True))
    assert fenced_internals.exit_status(server) == STARTUP_FAILURE  # not started yet
    _serve_then_stop(server)
    assert stopped == [True]
    assert fenced_internals.exit_status(server) == 0


def test_an_unchecked_uvicorn_gets_a_plain_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fenced_internals.CHECKED, "uvicorn", ("0.0",))
    stopped: list[bool] = []
    server = fenced_internals.server(_config(), on_stop=lambda: stopped.append(True))
    assert type(server) is uvicorn.Server
    _serve_then_stop(server)
    assert stopped == []
