"""The app factory: assembles routes, middleware and the lifespan that owns the clients."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from gateway.api_docs import install_api_docs
from gateway.errors import install_error_handlers
from gateway.fenced_internals import warn_if_unchecked
from gateway.grpc_face import GrpcFace
from gateway.limits import BodySizeLimitMiddleware
from gateway.metrics import HttpMetricsMiddleware, Metrics
from gateway.routes import health, jobs, model, predict, v2
from gateway.services import Services
from gateway.settings import Settings

log = logging.getLogger("irisq.gateway")
# Young-generation collections every 50,000 allocations instead of 700: fewer pauses in the
# request path (a request allocates a few hundred objects).
GC_GEN0_THRESHOLD = 50_000


def drain(app: FastAPI) -> None:
    """The server is stopping: every request waiting for a job answers 202 with it now, and
    the gRPC face takes no new calls."""
    services: Services | None = getattr(app.state, "services", None)
    if services is not None:
        services.listener.drain()
    grpc_face: GrpcFace | None = getattr(app.state, "grpc_face", None)
    if grpc_face is not None:
        grpc_face.drain()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics(settings.prometheus_multiproc_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.create(settings, metrics)
        app.state.services = services
        # The gRPC face (GRPC_PORT, 0: none) holds its port from here: a port it cannot listen
        # on fails the start before anything runs.
        grpc_face = GrpcFace.listen(services) if settings.grpc_port else None
        app.state.grpc_face = grpc_face
        background = [
            asyncio.create_task(services.listener.run(), name="done-listener"),
            asyncio.create_task(services.dispatcher.run(), name="dispatcher"),
            asyncio.create_task(services.dispatcher.run_redelivery(), name="redelivery"),
            asyncio.create_task(services.model.run(), name="model-refresh"),
            asyncio.create_task(services.sweeper.run(), name="job-sweeper"),
            asyncio.create_task(services.capacity.run(), name="store-capacity"),
            asyncio.create_task(metrics.run_refresh(), name="metrics-refresh"),
        ]
        # Subscribed before the first request, so no job can finish unseen.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(services.listener.subscribed.wait(), 2.0)
        # Long-lived start-up objects never need collecting: keep them out of every GC pass.
        gc.freeze()
        gc.set_threshold(GC_GEN0_THRESHOLD, 50, 100)
        warn_if_unchecked()
        if grpc_face is not None:
            # Calls are taken once the listener is subscribed, as on the HTTP port.
            await grpc_face.start()
        log.info("gateway ready on %s:%s", settings.api_host, settings.api_port)
        try:
            yield
        finally:
            # First: its calls in flight need the listener and the dispatcher.
            if grpc_face is not None:
                await grpc_face.close()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await services.dispatcher.flush()
            await services.close()
            metrics.close()

    app = FastAPI(
        title="irisq",
        version="0.1.0",
        summary="Queue-backed iris species prediction",
        lifespan=lifespan,
        # irisq exports Prometheus metrics (gateway/metrics.py) and no OpenTelemetry: FastAPI's
        # own hooks would read the environment on every request to find that out.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # FastAPI's own pages load their scripts from a CDN: /docs is served with local files
        # (gateway/api_docs.py) and ReDoc is left out.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    routers = (predict.router, v2.infer_router, jobs.router, model.router, health.router, v2.router)
    for router in routers:
        # Flat, as `@app.post` adds them: an included router stays a node of the route tree
        # that every request resolves through, a sixth of the gateway's CPU on the cached
        # path (docs/optimisations.md). The routes carry their own tags, responses and route
        # class; nothing is set at inclusion. The prediction routes come first: the router
        # and the metrics' route label try the routes in order.
        app.router.routes.extend(router.routes)
    # After the API's routes, so requests to the API never try the documentation's first.
    install_api_docs(app)
    # Added last = outermost: oversized bodies are refused before anything else runs.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        # Last-Event-ID: an EventSource reconnecting to /jobs/{id}/events from another origin.
        allow_headers=["Content-Type", "Prefer", "Last-Event-ID"],
        expose_headers=["Location", "Preference-Applied"],
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    return app
