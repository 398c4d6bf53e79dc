"""Sends jobs to the workers: misses from concurrent requests travel as one Celery task.

Nothing waits when the workers are idle: a job is sent at once. While a sent task still waits
for a worker (or MAX_TASKS_IN_FLIGHT, a safety bound, are unfinished), jobs gather (bounded by
time and size) and the next task carries them, so one model call and one Celery round trip
serve many requests. A task is sent as soon as the one before it starts, so a worker that
finishes finds its next task already queued, and any number of workers are kept fed.

A task carries at most COALESCE_MAX_ITEMS items (a single larger job travels alone), also
after a failed publish: jobs past the bound wait for the next task, in the order they came.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from celery import Celery

from contract.broker import TASK_SERIALIZER, register_task_serializer
from contract.tasks import TASK_NAME, TaskJob, TaskPayload, row_count, task_job
from gateway.metrics import Metrics
from gateway.sent_events import FLUSH_SECONDS, BufferedSentEvents
from gateway.settings import Settings

log = logging.getLogger("irisq.gateway")

# A task whose outcome never arrives (its worker died; Celery will redeliver it) stops
# counting as in flight after this long.
IN_FLIGHT_EXPIRY_SECONDS = 10.0


def create_celery_client(settings: Settings) -> Celery:
    """A Celery app used only to publish: the gateway imports no task code."""
    register_task_serializer()
    app = Celery("irisq-gateway", broker=settings.redis_dsn)
    app.conf.update(
        task_send_sent_event=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_timeout=settings.redis_timeout_seconds,
        broker_connection_retry_on_startup=False,
        broker_transport_options={"socket_timeout": settings.redis_timeout_seconds},
    )
    return app


@dataclass
class _Flight:
    """A sent task not yet finished; `started` once a worker has taken it."""

    sent: float
    started: bool = False


@dataclass
class _Batch:
    jobs: TaskPayload = field(default_factory=list)
    items: int = 0
    since: float = 0.0


class Dispatcher:
    def __init__(self, celery: Celery, settings: Settings, metrics: Metrics) -> None:
        self.celery = celery
        self.settings = settings
        self.metrics = metrics
        self.pending = _Batch()
        self.in_flight: dict[str, _Flight] = {}
        self.wake = asyncio.Event()
        # Celery's publishing client blocks; one thread keeps it off the event loop. It also
        # sends the buffered task-sent events: the events' connection is used by it alone.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="celery-publish")
        self.sent_events: BufferedSentEvents | None = None
        self.events_flush: asyncio.TimerHandle | None = None

    def submit(self, job_id: str, items: Sequence[Sequence[float]], cache: bool = True) -> None:
        if not self.pending.jobs:
            self.pending.since = time.monotonic()
        self.pending.jobs.append(task_job(job_id, items, cache))
        self.pending.items += len(items)
        self.wake.set()

    def task_started(self, task_id: str) -> None:
        flight = self.in_flight.get(task_id)
        if flight is not None and not flight.started:
            flight.started = True
            self.wake.set()

    def task_done(self, task_id: str) -> None:
        if self.in_flight.pop(task_id, None) is not None:
            self.wake.set()

    def _take(self) -> _Batch:
        """The oldest pending jobs, up to COALESCE_MAX_ITEMS items (at least one job)."""
        pending, limit = self.pending, self.settings.coalesce_max_items
        if pending.items <= limit:
            self.pending = _Batch()
            return pending
        count, items = 0, 0
        for job in pending.jobs:
            size = row_count(job)
            if count and items + size > limit:
                break
            count, items = count + 1, items + size
        # The rest keeps its start time: it has waited already, and goes out next.
        self.pending = _Batch(pending.jobs[count:], pending.items - items, pending.since)
        return _Batch(pending.jobs[:count], items, pending.since)

    def _requeue(self, batch: _Batch) -> None:
        """Put an unsent batch back in front of the jobs that came while it was out."""
        self.pending = _Batch(
            batch.jobs + self.pending.jobs, batch.items + self.pending.items, batch.since
        )

    def _busy(self, now: float) -> bool:
        queued = False
        for task_id, flight in list(self.in_flight.items()):
            if now - flight.sent > IN_FLIGHT_EXPIRY_SECONDS:
                del self.in_flight[task_id]
            elif not flight.started:
                queued = True
        # A task still waiting for a worker would carry the next jobs no sooner than a task
        # sent later: hold them back to travel together.
        return queued or len(self.in_flight) >= self.settings.max_tasks_in_flight

    async def _gather(self) -> None:
        """While the workers are busy, let jobs gather up to the time and size bounds."""
        max_wait = self.settings.coalesce_max_wait_ms / 1000
        while self.pending.items < self.settings.coalesce_max_items:
            now = time.monotonic()
            remaining = self.pending.since + max_wait - now
            if remaining <= 0 or not self._busy(now):
                return
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), remaining)
            except TimeoutError:
                return

    def _publish(self, task_id: str, jobs: list[TaskJob]) -> None:
        if self.sent_events is None:
            self.sent_events = BufferedSentEvents(self.celery)
        items = sum(row_count(job) for job in jobs)
        self.celery.send_task(
            TASK_NAME,
            args=[jobs],
            task_id=task_id,
            # Celery otherwise builds a repr of the arguments for the message and its
            # task-sent event, which costs as much as the rest of a large task's publish.
            argsrepr=f"[<{len(jobs)} jobs, {items} items>]",
            kwargsrepr="{}",
            serializer=TASK_SERIALIZER,
            # Celery declares the queue before every publish (a kombu check that copies the
            # entity each time). Redis needs no declaring: the default exchange pushes to
            # the queue's list by name, and the workers declare their queues themselves.
            declare=[],
            event_dispatcher=self.sent_events,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2},
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.1
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending.jobs:
                await self._gather()
                batch = self._take()
                task_id = uuid.uuid4().hex
                # In flight from before the publish: a worker can finish the task before
                # the publishing call returns, and its outcome must find the entry to clear.
                self.in_flight[task_id] = _Flight(sent=time.monotonic())
                try:
                    await loop.run_in_executor(self.executor, self._publish, task_id, batch.jobs)
                except Exception as exc:
                    # Keep the jobs: their records say queued, and they go out first once
                    # Redis is back, each task still within COALESCE_MAX_ITEMS.
                    self.in_flight.pop(task_id, None)
                    self.metrics.publish_errors.inc()
                    log.warning("publish failed (%s); retrying in %.1fs", exc, backoff)
                    self._requeue(batch)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                backoff = 0.1
                if self.events_flush is None:
                    self.events_flush = loop.call_later(FLUSH_SECONDS, self._flush_events, loop)
                self.metrics.tasks_published.inc()
                self.metrics.jobs_per_task.observe(len(batch.jobs))

    def _send_events(self, close: bool = False) -> None:
        if self.sent_events is None:
            return
        try:
            # Celery's dispatcher keeps what it could not send for the next flush.
            self.sent_events.flush()
            if close:
                self.sent_events.close()
                self.sent_events = None
        except Exception as exc:
            log.warning("could not send task events: %s", exc)

    def _flush_events(self, loop: asyncio.AbstractEventLoop) -> None:
        self.events_flush = None
        loop.run_in_executor(self.executor, self._send_events)

    async def flush(self) -> None:
        """Send the jobs still gathering and the buffered events: at shutdown, after `run`.

        The jobs were accepted (202) and their records say queued; dropping them here would
        leave them queued until JOB_TTL_SECONDS.
        """
        loop = asyncio.get_running_loop()
        while self.pending.jobs:
            batch = self._take()
            try:
                await loop.run_in_executor(
                    self.executor, self._publish, uuid.uuid4().hex, batch.jobs
                )
            except Exception as exc:
                unsent = len(batch.jobs) + len(self.pending.jobs)
                log.error("could not send %d jobs at shutdown: %s", unsent, exc)
                break
        if self.events_flush is not None:
            self.events_flush.cancel()
        await loop.run_in_executor(self.executor, self._send_events, True)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
