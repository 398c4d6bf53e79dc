"""The one path of a prediction request, whichever face it came by (`/predict`, the Open
Inference Protocol over HTTP or gRPC): look its items up, and send the misses as one job.

The face validates and parses its own body, then answers from what this returns: the cached
entries at once, a job to wait for, or an accepted job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NoReturn

from contract.answers import items_json, labelled_items_json
from contract.cache_keys import canonical_rows
from contract.jobs import new_job_id
from contract.lua_scripts import Lookup
from contract.messages import DoneOutcome
from contract.tasks import Rows
from gateway.done_listener import OpenJob
from gateway.errors import STORE_FULL, STORE_FULL_RETRY_AFTER, ProblemError
from gateway.metrics import Metrics
from gateway.services import Services


@dataclass(frozen=True, slots=True)
class Submitted:
    # Per item its cache entry, or None for a miss that the job computes.
    cached: list[bytes | None]
    # The served version the entries are cached by (None: no model known yet).
    version: str | None
    # The job of the misses, and the listener's handle on it; None when all were cached.
    job_id: str | None
    job: OpenJob | None
    hits: int


def refuse_new_job(metrics: Metrics) -> NoReturn:
    metrics.store_refusals.inc()
    raise ProblemError(503, STORE_FULL, headers={"Retry-After": STORE_FULL_RETRY_AFTER})


async def look_up_or_submit(services: Services, values: Rows, *, is_async: bool) -> Submitted:
    """Look the rows up and, when any is missing, send the misses as one job.

    `values` are validated rows in FEATURES order; a tensor's matrix is packed whole. Only
    requests within CACHE_MAX_ITEMS use the cache, and only their rows are rounded here, for
    their keys; the worker rounds every row again, all at once (worker/rows.py): rounded one
    value at a time here, a large request's rows cost the event loop more than the rest of
    the request.
    """
    settings, metrics = services.settings, services.metrics
    # While open work fills the store, only requests the cache answers whole are served.
    full = services.capacity.full
    use_cache = len(values) <= settings.cache_max_items
    if full and not use_cache:
        refuse_new_job(metrics)
    key_suffixes: list[str] | None = None
    if use_cache:
        values, key_suffixes = canonical_rows(values)

    # Look up or open: one Redis trip answers every cached item and, when any is missing,
    # opens the job for the rest.
    job_id = new_job_id()
    cached, version = await services.lookups.lookup_or_open(
        Lookup(len(values), key_suffixes, job_id, time.time(), may_open=not full)
    )
    if hits := len(cached) - cached.count(None):
        metrics.cache_hits.inc(hits)
    misses = [values[i] for i, entry in enumerate(cached) if entry is None] if hits else values
    if len(misses) and use_cache:
        metrics.cache_misses.inc(len(misses))
    if not len(misses):
        metrics.count_predictions(cached, {})
        return Submitted(cached, version, None, None, hits)
    if full:
        refuse_new_job(metrics)

    # The misses go to a worker as one job; the listener counts its items when it ends (it
    # needs the cache entries only when there are any).
    metrics.jobs_submitted.labels("async" if is_async else "sync").inc()
    job = services.listener.expect(job_id, cached if hits else None)
    services.dispatcher.submit(job_id, misses, use_cache)
    return Submitted(cached, version, job_id, job, hits)


def answered_items(submitted: Submitted, outcome: DoneOutcome) -> bytes:
    """The JSON list of a job's items in request order: its cache entries and its results."""
    computed_by, version = outcome["model_version"], submitted.version
    if submitted.hits and computed_by != version and version is not None:
        # A canary computed the misses: each item names the version that computed it.
        return labelled_items_json(submitted.cached, version, outcome["results"], computed_by)
    return items_json(submitted.cached, outcome["results"])
