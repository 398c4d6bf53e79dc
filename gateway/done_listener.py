"""One Redis subscription serves every request that waits for a job."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypedDict

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import Message

from contract.messages import DONE_CHANNEL, JobOutcome, MalformedMessage, parse
from gateway.metrics import Metrics

log = logging.getLogger("irisq.gateway")


class StoppedWaiting(TypedDict):
    """A wait that ends without the job's outcome; the request answers 202 with its id."""

    status: Literal["draining", "gone"]


# What a waiting request gets: its job's outcome, or word that it no longer waits for it.
Outcome = JobOutcome | StoppedWaiting
# The gateway stops.
DRAINING: StoppedWaiting = {"status": "draining"}
# The client disconnected: the job goes on without it.
GONE: StoppedWaiting = {"status": "gone"}
# A wait this long starts watching for its client's disconnect (see DisconnectWatch).
WATCH_AFTER_SECONDS = 0.2
# An open job whose outcome this gateway missed (its subscription dropped) is forgotten this
# long after the sweeper's bound on it, so the table of open jobs cannot grow without bound.
OPEN_JOB_GRACE_SECONDS = 60.0
PRUNE_EVERY_SECONDS = 10.0


class DisconnectWatch:
    """Resolves a waiting request's future with GONE when its client disconnects.

    Watching takes a task (the request's ASGI receive, which returns once the client leaves:
    its body is already read). Most waits end within milliseconds, so the task starts only
    once a wait has lasted WATCH_AFTER_SECONDS: a quick answer costs a timer, not a task.
    """

    __slots__ = ("future", "receive", "task", "timer")

    def __init__(
        self, receive: Callable[[], Awaitable[Message]], future: asyncio.Future[Outcome]
    ) -> None:
        self.receive = receive
        self.future = future
        self.task: asyncio.Future[Message] | None = None
        self.timer = asyncio.get_running_loop().call_later(WATCH_AFTER_SECONDS, self._start)

    def _start(self) -> None:
        self.task = asyncio.ensure_future(self.receive())
        self.task.add_done_callback(self._received)

    def _received(self, task: asyncio.Future[Message]) -> None:
        if not task.cancelled() and not self.future.done():
            self.future.set_result(GONE)

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
        self.future: asyncio.Future[Outcome] | None = None


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

    A request registers before its task is sent, so a fast worker cannot finish unseen. Every
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
        on_task_done: Callable[[str], None],
        on_model_version: Callable[[str], None] | None = None,
        on_task_started: Callable[[str], None] | None = None,
        metrics: Metrics | None = None,
        job_timeout_seconds: float = 600.0,
    ) -> None:
        self.redis = redis
        self.on_task_done = on_task_done
        self.on_task_started = on_task_started
        self.on_model_version = on_model_version
        self.metrics = metrics or Metrics()
        self.open_jobs: dict[str, OpenJob] = {}
        # Read at each scrape: no cost on the request path.
        self.metrics.open_jobs.set_function(lambda: len(self.open_jobs))
        self.max_open_seconds = job_timeout_seconds + OPEN_JOB_GRACE_SECONDS
        self.next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        self.draining = False
        self.subscribed = asyncio.Event()
        # Job id -> the watches of the streams that follow it (usually one).
        self.watches: dict[str, list[JobWatch]] = {}

    def track(self, job_id: str, cached: Sequence[bytes | None] | None) -> None:
        """An async job: its items are counted when its outcome arrives."""
        self.open_jobs[job_id] = OpenJob(cached)

    def register(
        self, job_id: str, cached: Sequence[bytes | None] | None
    ) -> asyncio.Future[Outcome]:
        """A sync job: tracked, and its outcome resolves the returned future."""
        job = self.open_jobs[job_id] = OpenJob(cached)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        if self.draining:
            future.set_result(DRAINING)
        else:
            job.future = future
        return future

    def discard(self, job_id: str) -> None:
        """Its request stopped waiting; the job stays open to be counted."""
        job = self.open_jobs.get(job_id)
        if job is not None:
            job.future = None

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
        """The gateway stops: no request waits any longer, nor does any that registers later."""
        self.draining = True
        for job in self.open_jobs.values():
            if job.future is not None and not job.future.done():
                job.future.set_result(DRAINING)
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
        if outcome["status"] == "done":
            self._count(job, outcome["counts"])

    def _count(self, job: OpenJob, counts: dict[str, int]) -> None:
        # One inc per label value, not per item: a 1000-item batch costs a handful of calls.
        classes = Counter(counts)
        cached = 0
        if job.cached is not None:
            for entry in job.cached:
                if entry is not None:
                    classes[orjson.loads(entry)["prediction"]] += 1
                    cached += 1
        self.metrics.count_predictions(cached, sum(counts.values()))
        for prediction, count in classes.items():
            self.metrics.count_class(prediction, count)

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
            if task_id and self.on_task_started:
                self.on_task_started(task_id)
            if watched:
                started_at = message["started_at"]
                for job_id in message["jobs"]:
                    for watch in watched.get(job_id, ()):
                        watch.start(started_at)
            return
        if task_id:
            self.on_task_done(task_id)
        for job_id, outcome in message["jobs"].items():
            if outcome["status"] == "done" and self.on_model_version:
                self.on_model_version(outcome["model_version"])
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
