"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from celery import Celery
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError
from starlette.responses import Response

from gateway.errors import problem_response
from gateway.services import Services, ServicesDep

router = APIRouter(tags=["operations"])

WORKER_PING_SECONDS = 1.0


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: 200 while the process serves."""
    return {"status": "ok"}


async def _check_redis(services: Services) -> str:
    try:
        await services.redis.ping()
    except RedisError as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok"


class WorkerCheck:
    """Whether a worker answers a Celery ping, asked at most once per `cache_seconds`.

    The ping is a broadcast every worker answers: an answer is reused for `cache_seconds`
    from when its ping was sent, and callers who come while a ping is out wait for that one,
    so /ready costs the workers one ping per period however often it is called. A worker
    that stops shows within `cache_seconds` + WORKER_PING_SECONDS.
    """

    def __init__(self, celery: Celery, cache_seconds: float) -> None:
        self.celery = celery
        self.cache_seconds = cache_seconds
        self._answer = ""
        self._asked = -float("inf")
        self._pending: asyncio.Task[str] | None = None

    async def status(self) -> str:
        if time.monotonic() - self._asked < self.cache_seconds:
            return self._answer
        if self._pending is None:
            self._pending = asyncio.create_task(self._ping(), name="worker-ping")
        # Shielded: a caller that goes away does not cancel the ping the others wait for.
        return await asyncio.shield(self._pending)

    async def _ping(self) -> str:
        asked = time.monotonic()

        def ping() -> list[Any]:
            replies: list[Any] = self.celery.control.ping(timeout=WORKER_PING_SECONDS, limit=1)
            return replies

        try:
            replies = await asyncio.to_thread(ping)
        except Exception as exc:
            answer = f"unreachable ({type(exc).__name__})"
        else:
            answer = "ok" if replies else "no worker answered"
        finally:
            self._pending = None
        self._answer, self._asked = answer, asked
        return answer


def _worker_check(request: Request, services: Services) -> WorkerCheck:
    # Made on first use, beside the services it pings through; a new lifespan (new Celery
    # client) gets a new one.
    check: WorkerCheck | None = getattr(request.app.state, "worker_check", None)
    if check is None or check.celery is not services.celery:
        check = WorkerCheck(services.celery, services.settings.ready_cache_seconds)
        request.app.state.worker_check = check
    return check


async def _check_model(services: Services) -> str:
    try:
        metadata = await services.model.fetch()
    except RedisError as exc:
        return f"unknown ({type(exc).__name__})"
    return "ok" if metadata else "unknown: no worker has announced a model"


@router.get("/ready", responses={503: {"description": "A check failed; the body names it"}})
async def ready(request: Request, services: ServicesDep) -> Response:
    """Readiness: Redis answers, a worker answers, and the model metadata is known."""
    redis, workers, model = await asyncio.gather(
        _check_redis(services),
        _worker_check(request, services).status(),
        _check_model(services),
    )
    checks = {"redis": redis, "workers": workers, "model": model}
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        return problem_response(503, f"Not ready: {', '.join(failed)}", extra={"checks": checks})
    return Response(
        b'{"status":"ready","checks":{"redis":"ok","workers":"ok","model":"ok"}}',
        media_type="application/json",
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
