"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from starlette.responses import JSONResponse, Response

from gateway.errors import problem_response
from gateway.grpc_face import GrpcFace
from gateway.services import Services, ServicesDep

router = APIRouter(tags=["operations"])


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


async def _check_model(services: Services) -> str:
    try:
        metadata = await services.model.fetch()
    except RedisError as exc:
        return f"unknown ({type(exc).__name__})"
    return "ok" if metadata else "unknown: no worker has announced a model"


async def _load_failures(services: Services) -> dict[str, str]:
    """The versions some worker process could not load, and why: it answers with the one it
    had, so the service is ready, and says so."""
    try:
        reports = await services.model.reports()
    except RedisError:
        return {}
    return {
        f"{report.process} {version}": reason
        for report in reports
        for version, reason in report.failed.items()
    }


@router.get("/ready", responses={503: {"description": "A check failed; the body names it"}})
async def ready(services: ServicesDep, request: Request) -> Response:
    """Readiness: Redis answers, a worker answers, and the model metadata is known.

    `model_load_failures` names the worker processes that could not load a promoted
    version (they keep answering with the one they had)."""
    redis, workers, model, failures = await asyncio.gather(
        _check_redis(services),
        services.workers.status(),
        _check_model(services),
        _load_failures(services),
    )
    checks = {"redis": redis, "workers": workers, "model": model}
    # And the gRPC face takes calls (None: GRPC_PORT is 0, no check).
    grpc_face: GrpcFace | None = getattr(request.app.state, "grpc_face", None)
    if grpc_face is not None:
        checks["grpc"] = grpc_face.status()
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        return problem_response(503, f"Not ready: {', '.join(failed)}", extra={"checks": checks})
    if failures:
        return JSONResponse({"status": "ready", "checks": checks, "model_load_failures": failures})
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics", include_in_schema=False)
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
