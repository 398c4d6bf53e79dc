"""RFC 9457 problem details: one error shape for every failure, at the edge."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import OutOfMemoryError, RedisError
from starlette.exceptions import HTTPException
from starlette.responses import Response

log = logging.getLogger("irisq.gateway")

PROBLEM_JSON = "application/problem+json"
JSON_POSITION = re.compile(r" at line \d+ column \d+$")
# New work refused while jobs and queued tasks fill the store (gateway/capacity.py).
STORE_FULL = (
    "irisq is at capacity: its store (Redis) is full of open work (queued and running jobs); "
    "retry shortly."
)
STORE_FULL_RETRY_AFTER = "5"


class ProblemError(Exception):
    """An error to answer as a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra or {})
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def field_path(loc: Sequence[int | str]) -> str:
    """("body", "items", 2, "petal_width") -> "items[2].petal_width"."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or [parts[0]]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        loc = error.get("loc", ())
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            # The field is the body itself; the parser's position in it is left out, as
            # everything that looks like a source location is (SECURITY.md).
            loc = ("body",)
            message = JSON_POSITION.sub("", message)
        errors.append({"field": field_path(loc), "message": message})
    return errors


# A body of MAX_BODY_BYTES can hold ~20,000 bad values: listing them all would answer
# 0.5 MB with 1.5 MB. The first ones are enough to fix a request.
MAX_LISTED_ERRORS = 100


async def _on_validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = validation_errors(exc)
    fields = ", ".join(sorted({e["field"] for e in errors})[:5])
    detail = f"Invalid request: {fields}"
    if len(errors) > MAX_LISTED_ERRORS:
        detail += f" ({len(errors)} errors; the first {MAX_LISTED_ERRORS} are listed)"
    return problem_response(422, detail, errors=errors[:MAX_LISTED_ERRORS])


async def _on_http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return problem_response(exc.status_code, str(exc.detail), headers=headers)


async def _on_problem(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status, exc.detail, errors=exc.errors, extra=exc.extra, headers=exc.headers
    )


async def _on_redis(request: Request, exc: Exception) -> Response:
    log.warning("redis unavailable path=%s error=%s", request.url.path, type(exc).__name__)
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.redis_errors.inc()
    return problem_response(
        503,
        "The prediction store (Redis) is unavailable; retry shortly.",
        headers={"Retry-After": "1"},
    )


async def _on_redis_full(request: Request, exc: Exception) -> Response:
    # Redis evicts only cache entries (volatile-lru; job records and the queue carry no TTL):
    # when jobs and queued tasks alone fill its memory, new work is refused, never dropped.
    log.warning("redis out of memory path=%s: refusing new work", request.url.path)
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.redis_errors.inc()
    return problem_response(503, STORE_FULL, headers={"Retry-After": STORE_FULL_RETRY_AFTER})


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error path=%s", request.url.path)
    return problem_response(500, "Internal error; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RedisError, _on_redis)
    app.add_exception_handler(OutOfMemoryError, _on_redis_full)
    app.add_exception_handler(Exception, _on_unexpected)
