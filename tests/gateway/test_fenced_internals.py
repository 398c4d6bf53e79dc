"""The gateway's fenced library internal (gateway/fenced_internals.py) still holds.

These fail when FastAPI changes underneath the hook: a new version must be checked (and
added to FASTAPI_CHECKED) before the fast route is used with it.
"""

from __future__ import annotations

import asyncio
import logging

import fastapi
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message

from gateway.fenced_internals import FASTAPI_CHECKED, RequestRoute, fastapi_checked


def test_the_installed_fastapi_is_one_the_hook_was_checked_against() -> None:
    assert fastapi_checked(), (
        f"FastAPI {fastapi.__version__} is not in FASTAPI_CHECKED {FASTAPI_CHECKED}: check "
        "RequestRoute against it (the tests below) and add it"
    )


def test_other_versions_are_not_checked() -> None:
    assert not fastapi_checked("0.1.0")
    assert not fastapi_checked("99.0.0")


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
    from gateway import fenced_internals

    monkeypatch.setattr(fenced_internals, "FASTAPI_CHECKED", ("0.0",))
    app = FastAPI()
    app.router.routes.append(RequestRoute("/hot", _endpoint, methods=["POST"]))
    status, scope = _call(app, "/hot")
    assert status == 200
    assert "fastapi_inner_astack" in scope
    with caplog.at_level(logging.WARNING, logger="irisq.gateway"):
        fenced_internals.warn_if_unchecked()
    assert "public, slower path" in caplog.text
