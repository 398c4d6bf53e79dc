"""Sends jobs to the workers: misses from concurrent requests travel as one Celery task.

Nothing waits when the workers are idle: a job is sent at once. While a sent task still waits
for a worker (or MAX_TASKS_IN_FLIGHT, a safety bound, are unfinished), jobs gather (bounded by
time and size) and the next task carries them, so one model call and one Celery round trip
serve many requests. A task is sent as soon as the one before it starts, so a worker that
finishes finds its next task already queued, and any number of workers are kept fed.

A task carries at most COALESCE_MAX_ITEMS items (a single larger job travels alone), also
after a failed publish: jobs past the bound wait for the next task, in the order they came.

No accepted job is lost with a worker. The dispatcher keeps each task it sent until the task's
outcome arrives, and sends it again when it is overdue: taken off the queue (it started, a
task sent after it started or finished, or the queue is empty) and no outcome within
TASK_REDELIVERY_SECONDS. kombu's Redis transport pops a task before it records it as
unacknowledged, so a worker killed in between takes the task with it; one killed while it
runs a task gives it back only after the visibility timeout. A task run twice is harmless:
it skips every job already finished (contract/lua/mark_running.lua).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from celery import Celery
from redis.asyncio import Redis
from redis.exceptions import RedisError

from contract.broker import (
    PUBLISHED_BODY_ENCODING,
    TASK_QUEUE,
    TASK_SERIALIZER,
    register_task_serializer,
)
from contract.tasks import TASK_NAME, Rows, TaskJob, TaskPayload, row_count, task_job
from gateway.celery_task_events import FLUSH_SECONDS, TaskSentEvents
from gateway.metrics import Metrics
from gateway.settings import Settings

log = logging.getLogger("irisq.gateway")

# A task whose outcome has not arrived this long after it was sent stops counting as in
# flight for the pace (it is sent again when overdue, below).
IN_FLIGHT_EXPIRY_SECONDS = 10.0
# How often overdue tasks are looked for.
REDELIVERY_CHECK_SECONDS = 0.5
# A task sent this many times without an outcome (a task that kills every worker it reaches)
# is left to the sweeper, which fails its jobs at JOB_TIMEOUT_SECONDS.
MAX_SENDS = 4


def create_celery_client(settings: Settings) -> Celery:
    """A Celery app used only to publish: the gateway imports no task code."""
    register_task_serializer()
    app = Celery("irisq-gateway", broker=settings.redis_dsn)
    app.conf.update(
        # The gateway sends the task-sent events itself, in batches (celery_task_events.py).
        task_send_sent_event=False,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=TASK_QUEUE,
        broker_connection_timeout=settings.redis_timeout_seconds,
        broker_connection_retry_on_startup=False,
        broker_transport_options={
            "socket_timeout": settings.redis_timeout_seconds,
            **PUBLISHED_BODY_ENCODING,
        },
    )
    return app


@dataclass
class _Flight:
    """A sent task not yet finished, kept to be sent again while its outcome is overdue."""

    sequence: int
    sent: float
    jobs: list[TaskJob]
    sends: int = 1
    # A worker announced that it started the task.
    started: bool = False
    # When the task was known to be off the queue (started, or passed by a later task).
    taken: float | None = None

    def overdue(self, now: float, queue_empty: bool, after: float) -> bool:
        if self.taken is not None:
            return now - self.taken > after
        return queue_empty and now - self.sent > after


@dataclass
class _Batch:
    jobs: TaskPayload = field(default_factory=list)
    items: int = 0
    since: float = 0.0


class Dispatcher:
    def __init__(self, celery: Celery, redis: Redis, settings: Settings, metrics: Metrics) -> None:
        self.celery = celery
        self.redis = redis
        self.sequence = 0
        self.settings = settings
        self.metrics = metrics
        self.pending = _Batch()
        self.in_flight: dict[str, _Flight] = {}
        self.wake = asyncio.Event()
        # Celery's publishing client blocks; one thread keeps it off the event loop. It also
        # sends the buffered task-sent events: the events' connection is used by it alone.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="celery-publish")
        self.sent_events: TaskSentEvents | None = None
        self.events_flush: asyncio.TimerHandle | None = None

    def submit(self, job_id: str, items: Rows, cache: bool = True) -> None:
        if not self.pending.jobs:
            self.pending.since = time.monotonic()
        self.pending.jobs.append(task_job(job_id, items, cache))
        self.pending.items += len(items)
        self.wake.set()

    def task_started(self, task_id: str) -> None:
        flight = self.in_flight.get(task_id)
        if flight is None:
            return
        # A run began (again, when a pool process died with the first): its outcome is due
        # from now.
        flight.taken = time.monotonic()
        if not flight.started:
            flight.started = True
            self._taken_before(flight.sequence)
            self.wake.set()

    def task_done(self, task_id: str) -> None:
        flight = self.in_flight.pop(task_id, None)
        if flight is not None:
            self._taken_before(flight.sequence)
            self.wake.set()

    def _taken_before(self, sequence: int) -> None:
        """A worker took the task sent as `sequence`: the queue is FIFO, so every task sent
        before it (and by now not taken as far as we know) was popped no later."""
        now = time.monotonic()
        for flight in self.in_flight.values():
            if flight.sequence > sequence:
                break  # insertion order is send order (a resend goes last)
            if flight.taken is None:
                flight.taken = now

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
        queued, count = False, 0
        for flight in self.in_flight.values():
            if now - flight.sent <= IN_FLIGHT_EXPIRY_SECONDS:
                count += 1
                queued = queued or not flight.started
        # A task still waiting for a worker would carry the next jobs no sooner than a task
        # sent later: hold them back to travel together.
        return queued or count >= self.settings.max_tasks_in_flight

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
            self.sent_events = TaskSentEvents(self.celery)
        items = sum(row_count(job) for job in jobs)
        # Celery otherwise builds a repr of the arguments for the message, which costs as much
        # as the rest of a large task's publish.
        argsrepr = f"[<{len(jobs)} jobs, {items} items>]"
        self.celery.send_task(
            TASK_NAME,
            args=[jobs],
            task_id=task_id,
            argsrepr=argsrepr,
            kwargsrepr="{}",
            serializer=TASK_SERIALIZER,
            # Celery declares the queue before every publish (a kombu check that copies the
            # entity each time). Redis needs no declaring: the default exchange pushes to
            # the queue's list by name, and the workers declare their queues themselves.
            declare=[],
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2},
        )
        self.sent_events.sent(task_id, TASK_NAME, argsrepr, "{}", TASK_QUEUE)

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
                self.sequence += 1
                self.in_flight[task_id] = _Flight(self.sequence, time.monotonic(), batch.jobs)
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

    async def redeliver_overdue(self) -> int:
        """Send again every task taken off the queue whose outcome is overdue; how many."""
        now, after = time.monotonic(), self.settings.task_redelivery_seconds
        queue_empty = False
        if any(f.taken is None and now - f.sent > after for f in self.in_flight.values()):
            # Not known to be taken, and long sent: lost unless it still waits in the queue.
            queue_empty = await self.redis.llen(TASK_QUEUE) == 0
        overdue = [
            (task_id, flight)
            for task_id, flight in self.in_flight.items()
            if flight.overdue(now, queue_empty, after)
        ]
        loop = asyncio.get_running_loop()
        for task_id, flight in overdue:
            if flight.sends >= MAX_SENDS:
                del self.in_flight[task_id]
                log.error(
                    "task=%s sent %d times without an outcome; left to the sweeper",
                    task_id,
                    flight.sends,
                )
                continue
            flight.sends += 1
            flight.sent, flight.started, flight.taken = time.monotonic(), False, None
            # Back at the queue's tail: last in send order too, for `_taken_before`.
            del self.in_flight[task_id]
            self.sequence += 1
            flight.sequence = self.sequence
            self.in_flight[task_id] = flight
            # The same task id: whichever run finishes first frees the flight.
            await loop.run_in_executor(self.executor, self._publish, task_id, flight.jobs)
            self.metrics.tasks_redelivered.inc()
            log.warning(
                "task=%s had no outcome %.1f s after a worker took it; sent again", task_id, after
            )
        return len(overdue)

    async def run_redelivery(self) -> None:
        while True:
            await asyncio.sleep(REDELIVERY_CHECK_SECONDS)
            try:
                await self.redeliver_overdue()
            except (RedisError, OSError) as exc:
                log.debug("redelivery check failed: %s", exc)
            except Exception as exc:  # a publish refused: the next check tries again
                log.warning("could not send an overdue task again: %s", exc)

    def _send_events(self, close: bool = False) -> None:
        if self.sent_events is None:
            return
        try:
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
