"""Prometheus metrics of the gateway, in a registry of its own (one per app)."""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract.answers import predictions

# How often, with several processes sharing the metric files, each writes the values of its
# gauges read from a function (`Metrics.read_from`).
REFRESH_SECONDS = 1.0
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The gateway's metrics. With `multiproc_dir` (PROMETHEUS_MULTIPROC_DIR, several gateway
    processes sharing one port) every value lives in that directory's files, and `exposition`
    sums the files of every process; the gauges say how (`multiprocess_mode`)."""

    def __init__(self, multiproc_dir: Path | None = None) -> None:
        self.multiproc_dir = multiproc_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # The gRPC face (gateway/grpc_face.py), named as the gRPC ecosystem's interceptors
        # name them (grpc_server_handled_total, grpc_server_handling_seconds).
        self.grpc_handled = Counter(
            "grpc_server_handled",
            "gRPC calls answered, by method and status code",
            ["grpc_method", "grpc_code"],
            registry=r,
        )
        self.grpc_duration = Histogram(
            "grpc_server_handling_seconds",
            "Time to answer a gRPC call",
            ["grpc_method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "irisq_predictions",
            "Items answered, by where the answer came from",
            ["source"],
            registry=r,
        )
        self.predictions_by_class = Counter(
            "irisq_predictions_by_class",
            "Items answered, by predicted class",
            ["prediction"],
            registry=r,
        )
        self.cache_hits = Counter("irisq_cache_hits", "Items found in the cache", registry=r)
        self.cache_misses = Counter("irisq_cache_misses", "Items not in the cache", registry=r)
        self.jobs_submitted = Counter(
            "irisq_jobs_submitted", "Jobs recorded and sent to the workers", ["mode"], registry=r
        )
        self.jobs_failed = Counter(
            "irisq_jobs_failed", "Jobs the workers reported failed", registry=r
        )
        self.tasks_published = Counter(
            "irisq_tasks_published", "Celery tasks published (each carries >= 1 job)", registry=r
        )
        self.publish_errors = Counter(
            "irisq_publish_errors", "Failed attempts to publish a task", registry=r
        )
        self.jobs_per_task = Histogram(
            "irisq_jobs_per_task",
            "Jobs coalesced into one task",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=r,
        )
        self.sync_wait = Histogram(
            "irisq_sync_wait_seconds",
            "Time a sync-wait request waited for its job",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.sync_wait_timeouts = Counter(
            "irisq_sync_wait_timeouts",
            "Sync-wait requests answered 202 at their deadline",
            registry=r,
        )
        self.redis_errors = Counter(
            "irisq_redis_errors", "Requests refused because Redis could not be reached", registry=r
        )
        # Per process, summed over the live ones.
        self.waiting = Gauge(
            "irisq_waiting_requests",
            "Requests waiting for a job",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.open_jobs = Gauge(
            "irisq_open_jobs",
            "Jobs this gateway submitted whose outcome has not reached it yet",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.event_streams = Gauge(
            "irisq_event_streams",
            "Job event streams open (GET /jobs/{id}/events)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.tasks_redelivered = Counter(
            "irisq_tasks_redelivered",
            "Tasks sent again: taken off the queue, and no outcome within TASK_REDELIVERY_SECONDS",
            registry=r,
        )
        self.records_trimmed = Counter(
            "irisq_job_records_trimmed",
            "Finished job records trimmed under memory pressure, oldest first (then 410 Gone)",
            registry=r,
        )
        self.records_forgotten = Counter(
            "irisq_job_records_answered",
            "Job records deleted because their sync request was answered with the result",
            registry=r,
        )
        # One store's figure, which every process's sweeper measures: the latest reading.
        self.records_bytes = Gauge(
            "irisq_job_records_bytes",
            "Redis memory held by finished job records (MEMORY USAGE, summed)",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.store_refusals = Counter(
            "irisq_store_full_refusals",
            "Requests refused with 503 because open work fills the store",
            registry=r,
        )
        # prometheus_client's labels() checks and locks on every call; the hot path keeps
        # each labelled child it has used.
        self._from_cache = self.predictions.labels("cache")
        self._from_model = self.predictions.labels("model")
        self._by_class: dict[str, Any] = {}
        self._http: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        # Gauges read from a function (multiprocess mode only: see `read_from`).
        self._read: list[tuple[Gauge, Callable[[], float]]] = []

    def read_from(self, gauge: Gauge, read: Callable[[], float]) -> None:
        """`gauge` takes the value of `read()`: at each scrape, at no cost in between. Other
        processes' scrapes read only files, so with `multiproc_dir` the value is written to
        this process's file every REFRESH_SECONDS instead (`refresh`)."""
        if self.multiproc_dir is None:
            gauge.set_function(read)
        else:
            self._read.append((gauge, read))

    def refresh(self) -> None:
        """Write the values of the gauges read from a function (multiprocess mode)."""
        for gauge, read in self._read:
            gauge.set(read())

    async def run_refresh(self) -> None:
        """`refresh` every REFRESH_SECONDS while there is anything to write."""
        while self._read:
            self.refresh()
            await asyncio.sleep(REFRESH_SECONDS)

    def exposition(self) -> bytes:
        """/metrics' body: this process's metrics, or with `multiproc_dir` every process's."""
        if self.multiproc_dir is None:
            return generate_latest(self.registry)
        self.refresh()
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(self.multiproc_dir))  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def close(self) -> None:
        """The process stops: its gauges leave the live sums (its counts stay in the totals)."""
        if self.multiproc_dir is not None:
            mark_process_dead(os.getpid(), str(self.multiproc_dir))  # type: ignore[no-untyped-call]

    def count_predictions(
        self, cached: Sequence[bytes | None] | None, computed: Mapping[str, int]
    ) -> None:
        """One answer's predictions: its cache entries (None for a computed item) and how many
        computed items predict each class. Every answered item is counted here, once."""
        classes = predictions(cached) if cached else collections.Counter[str]()
        if from_cache := classes.total():
            self._from_cache.inc(from_cache)
        if from_model := sum(computed.values()):
            self._from_model.inc(from_model)
        classes.update(computed)
        # One inc per class, not per item: a 1000-item batch costs a handful of calls.
        for prediction, count in classes.items():
            child = self._by_class.get(prediction)
            if child is None:
                child = self._by_class[prediction] = self.predictions_by_class.labels(prediction)
            child.inc(count)

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._http.get((method, route, status))
        if children is None:
            children = self._http[(method, route, status)] = (
                self.http_requests.labels(method, route, str(status)),
                self.http_duration.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_grpc(self, method: str, code: str, seconds: float) -> None:
        """One gRPC call: six methods and gRPC's status codes bound the labels."""
        self.grpc_handled.labels(method, code).inc()
        self.grpc_duration.labels(method).observe(seconds)


def route_template(scope: Scope) -> str:
    """The template of the app's route for the request: the one that matches it whole, else
    one that matches all but its method (a 405). Unmatched paths share one label, so labels
    stay bounded whatever clients send.

    Matched with Starlette's public `BaseRoute.matches`, as its router does; the route the
    router put in the scope is not Starlette's API.
    """
    partial = None
    for route in scope["app"].routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(route.path)
        if match is Match.PARTIAL and partial is None:
            partial = str(route.path)
    return partial or "unmatched"


class HttpMetricsMiddleware:
    """Counts every request by method, route template and status, and times it.

    A path that is its own route's template (one without parameters, as `/predict`) keeps
    its template once matched: matching the routes again costs a cached request about a tenth
    of the gateway's CPU. Only routes' own paths are kept, so the table stays bounded.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.templates: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = scope["path"]
            template = self.templates.get(path)
            if template is None:
                template = route_template(scope)
                if template == path:
                    self.templates[path] = template
            self.metrics.observe_http(
                scope["method"], template, status, time.perf_counter() - start
            )
