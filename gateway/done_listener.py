"""The done channel's listener: one Redis subscription serves every job this gateway runs.

It owns waiting for an outcome (a sync request waits here, and reads the record once at its
deadline), counts each job's predictions when its outcome arrives, and wakes the event streams
that follow jobs. A task's start and outcome also reach the dispatcher (its tasks in flight)
and the model announcement (the version that answered).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import Message

from contract.jobs import JobStatus
from contract.messages import DONE_CHANNEL, JobOutcome, MalformedMessage, parse
from gateway.dispatcher import Dispatcher
from gateway.jobs import JobStore
from gateway.metrics import Metrics
from gateway.model_info import ModelInfo

log = logging.getLogger("irisq.gateway")


# What a waiting request gets: its job's outcome, or None when it stops waiting without one
# (the deadline passed, the client left, the gateway drains): it answers 202 with the job id,
# and the job goes on.
Waited = asyncio.Future[JobOutcome | None]
# A wait this long starts watching for its client's disconnect (see DisconnectWatch).
WATCH_AFTER_SECONDS = 0.2
# An open job whose outcome this gateway missed (its subscription dropped) is forgotten this
# long after the sweeper's bound on it, so the table of open jobs cannot grow without bound.
OPEN_JOB_GRACE_SECONDS = 60.0
PRUNE_EVERY_SECONDS = 10.0


class DisconnectWatch:
    """Resolves a waiting request's future with None when its client disconnects.

    Watching takes a task (the request's ASGI receive, which returns once the client leaves:
    its body is already read). Most waits end within milliseconds, so the task starts only
    once a wait has lasted WATCH_AFTER_SECONDS: a quick answer costs a timer, not a task.
    """

    __slots__ = ("future", "receive", "task", "timer")

    def __init__(self, receive: Callable[[], Awaitable[Message]], future: Waited) -> None:
        self.receive = receive
        self.future = future
        self.task: asyncio.Future[Message] | None = None
        self.timer = asyncio.get_running_loop().call_later(WATCH_AFTER_SECONDS, self._start)

    def _start(self) -> None:
        self.task = asyncio.ensure_future(self.receive())
        self.task.add_done_callback(self._received)

    def _received(self, task: asyncio.Future[Message]) -> None:
        if not task.cancelled() and not self.future.done():
            self.future.set_result(None)

    def stop(self) -> None:
        self.timer.cancel()
        if self.task is not None:
            self.task.cancel()


class OpenJob:
    """A job this gateway submitted, until its outcome: what to count, who waits for it."""

    __slots__ = ("cached", "future", "since")

    def __init__(self, cached: Sequence[bytes | None] | None) -> None:
        self.since = time.monotonic()
        # The request's cache entries, kept only when some items were cached.
        self.cached = cached
        self.future: Waited | None = None


class JobWatch:
    """What the listener has heard of one job for an event stream (gateway/job_events.py).

    The listener only sets flags and wakes the stream: messages that arrive while the stream
    sends fold into one wake-up, and no queue grows behind a slow client.
    """

    __slots__ = ("changed", "ended", "finished", "job_id", "stale", "started", "started_at")

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.changed = asyncio.Event()
        # A started message named the job, with its start time when the message has one.
        self.started = False
        self.started_at: float | None = None
        # An outcome named the job: its record holds the final view.
        self.finished = False
        # Messages may have been missed (the subscription came back): read the record.
        self.stale = False
        # The gateway drains, or the client left: the stream ends.
        self.ended = False

    def start(self, started_at: float | None) -> None:
        self.started, self.started_at = True, started_at
        self.changed.set()

    def finish(self) -> None:
        self.finished = True
        self.changed.set()

    def resync(self) -> None:
        self.stale = True
        self.changed.set()

    def end(self) -> None:
        self.ended = True
        self.changed.set()


class DoneListener:
    """Resolves the future of each waiting job when a worker publishes its outcome.

    A job is expected before its task is sent, so a fast worker cannot finish it unseen. Every
    worker's outcome reaches every gateway; each counts the items of the jobs it submitted,
    once, when the first outcome of the job arrives.

    Event streams (gateway/job_events.py) watch jobs through the same messages: a start names
    its task's jobs, an outcome its finished ones, and no stream polls Redis. The start names
    the jobs, rather than this gateway mapping job ids to the tasks it sent: such a map would
    know nothing of jobs that another gateway (or this one before a restart) submitted. A job
    nobody watches costs a dict lookup per message, and none while no stream is open.
    """

    def __init__(
        self,
        redis: Redis,
        dispatcher: Dispatcher,
        model: ModelInfo,
        jobs: JobStore,
        metrics: Metrics,
        job_timeout_seconds: float,
    ) -> None:
        self.redis = redis
        self.dispatcher = dispatcher
        self.model = model
        self.jobs = jobs
        self.metrics = metrics
        self.open_jobs: dict[str, OpenJob] = {}
        # Read at each scrape: no cost on the request path.
        self.metrics.read_from(self.metrics.open_jobs, lambda: len(self.open_jobs))
        self.max_open_seconds = job_timeout_seconds + OPEN_JOB_GRACE_SECONDS
        self.next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        self.draining = False
        self.subscribed = asyncio.Event()
        # Job id -> the watches of the streams that follow it (usually one).
        self.watches: dict[str, list[JobWatch]] = {}

    def expect(self, job_id: str, cached: Sequence[bytes | None] | None) -> OpenJob:
        """A job this gateway submits, tracked before its task is sent: a fast worker
        cannot finish it unseen. Its items are counted when its outcome arrives; `cached`
        holds the request's cache entries when some items were cached."""
        job = self.open_jobs[job_id] = OpenJob(cached)
        return job

    async def wait(
        self,
        job_id: str,
        job: OpenJob,
        deadline: float,
        receive: Callable[[], Awaitable[Message]],
    ) -> JobOutcome | None:
        """The job's outcome within `deadline` seconds, or None: the client left, the gateway
        drains, or the deadline passed with the job still open (its record is read once
        then: an outcome whose message this gateway missed still counts).

        A done outcome goes out in the waiting request's answer, so its record has nothing
        more to tell and is forgotten, unless an event stream follows the job. A failed job's
        record stays (failures are few, and worth reading).
        """
        if self.draining:
            return None
        future: Waited = asyncio.get_running_loop().create_future()
        job.future = future
        started = time.perf_counter()
        self.metrics.waiting.inc()
        watch = DisconnectWatch(receive, future)
        try:
            outcome = await asyncio.wait_for(future, deadline)
        except TimeoutError:
            outcome = await self._last_look(job_id)
            if outcome is None:
                self.metrics.sync_wait_timeouts.inc()
        finally:
            watch.stop()
            job.future = None
            self.metrics.waiting.dec()
            self.metrics.sync_wait.observe(time.perf_counter() - started)
        done = outcome is not None and outcome["status"] == JobStatus.DONE
        if done and job_id not in self.watches:
            self.jobs.forget(job_id)
        return outcome

    async def _last_look(self, job_id: str) -> JobOutcome | None:
        outcome = await self.jobs.outcome(job_id)
        if outcome is not None:
            self.settle(job_id, outcome)
        return outcome

    def watch(self, job_id: str) -> JobWatch:
        """A stream follows the job; watched before its record is read, so nothing is missed."""
        watch = JobWatch(job_id)
        if self.draining:
            watch.end()
        self.watches.setdefault(job_id, []).append(watch)
        return watch

    def unwatch(self, watch: JobWatch) -> None:
        watches = self.watches.get(watch.job_id)
        if watches is not None and watch in watches:
            watches.remove(watch)
            if not watches:
                del self.watches[watch.job_id]

    def drain(self) -> None:
        """The gateway stops: no request waits any longer, nor does any that waits later."""
        self.draining = True
        for job in self.open_jobs.values():
            if job.future is not None and not job.future.done():
                job.future.set_result(None)
            job.future = None
        for watches in self.watches.values():
            for watch in watches:
                watch.end()

    def settle(self, job_id: str, outcome: JobOutcome) -> None:
        """The job's first outcome closes it and counts its items; later ones find nothing."""
        job = self.open_jobs.pop(job_id, None)
        if job is None:
            return
        if job.future is not None and not job.future.done():
            job.future.set_result(outcome)
        if outcome["status"] == JobStatus.DONE:
            self.metrics.count_predictions(job.cached, outcome["counts"])

    def prune(self, now: float) -> None:
        """Forget open jobs far past the sweeper's bound: their outcome was missed."""
        self.next_prune = now + PRUNE_EVERY_SECONDS
        cutoff = now - self.max_open_seconds
        stale = []
        # Insertion order is age order: the oldest come first.
        for job_id, job in self.open_jobs.items():
            if job.since > cutoff:
                break
            stale.append(job_id)
        for job_id in stale:
            del self.open_jobs[job_id]
        if stale:
            log.warning("forgot %d jobs whose outcome never reached this gateway", len(stale))

    def deliver(self, data: bytes) -> None:
        message = parse(data)
        task_id = message["task_id"]
        watched = self.watches
        if "started" in message:
            if task_id:
                self.dispatcher.task_started(task_id)
            if watched:
                started_at = message["started_at"]
                for job_id in message["jobs"]:
                    for watch in watched.get(job_id, ()):
                        watch.start(started_at)
            return
        if task_id:
            self.dispatcher.task_done(task_id)
        for job_id, outcome in message["jobs"].items():
            if outcome["status"] == JobStatus.DONE:
                self.model.observe(outcome["model_version"])
            if job_id in self.open_jobs:
                self.settle(job_id, outcome)
            if watched:
                for watch in watched.get(job_id, ()):
                    watch.finish()

    def resync(self) -> None:
        """Subscribed (again): messages sent meanwhile are lost, so each stream reads its job."""
        for watches in self.watches.values():
            for watch in watches:
                watch.resync()

    async def run(self) -> None:
        backoff = 0.05
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(DONE_CHANNEL)
                    backoff = 0.05
                    while True:
                        # A bounded read: an idle channel is not an error.
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None and message["type"] == "message":
                            try:
                                self.deliver(message["data"])
                            except (MalformedMessage, KeyError, AttributeError, TypeError):
                                log.warning("ignoring a malformed message on %s", DONE_CHANNEL)
                        elif message is not None and message["type"] == "subscribe":
                            # Redis confirms each subscription, also the one redis-py renews
                            # by itself after a dropped connection: from here on nothing is
                            # missed, and what was sent before is read from the records.
                            self.subscribed.set()
                            self.resync()
                            log.info("listening on %s", DONE_CHANNEL)
                        if (now := time.monotonic()) >= self.next_prune:
                            self.prune(now)
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("subscription lost (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
