"""A job's progress as server-sent events (`GET /jobs/{id}/events`): told, never polled.

A stream sends the job's current state at once (one read of its record), then each step as
the done listener hears of it (gateway/done_listener.py), whichever gateway submitted the job:

- a task's started message names its jobs and their start time: the running view is the
  queued one with that status and time, built without a read;
- an outcome names the jobs it finished: the final view (items or error) is read once;
- the listener's subscription is back after a drop: what was published meanwhile is in the
  records, so each stream reads its record once.

A view is sent only when it moves the job forward (queued, running, then done or failed), so a
message that repeats what the first read showed sends nothing twice. The stream ends after
done or failed, when its client leaves, and when the gateway drains.

Events are named by status and carry the JobView JSON that `GET /jobs/{id}` answers; their ids
count up within a stream, on from a reconnecting client's Last-Event-ID. A new stream (no
Last-Event-ID) on a job that has moved on already sends the states it passed through first,
so a client sees queued, running, then done or failed whatever the job's speed. The first
chunk sets the client's reconnection delay; a comment every EVENT_KEEPALIVE_SECONDS keeps
proxies from closing an idle stream. A stream is a generator over one watch, sent by
Starlette's StreamingResponse, which cancels it when the client leaves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from redis.exceptions import RedisError
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from contract.http import JobView
from contract.jobs import JobStatus, is_job_id
from gateway.done_listener import DoneListener, JobWatch
from gateway.jobs import JobStore
from gateway.metrics import Metrics
from gateway.settings import Settings

log = logging.getLogger("irisq.gateway")

EVENT_STREAM = "text/event-stream"
# How long an EventSource waits before it reconnects to a stream that dropped.
RETRY_MS = 1000
KEEPALIVE = b": keep-alive\n\n"
# The statuses in the order a job moves through them; a view is sent only when it moves on.
PROGRESS = {JobStatus.QUEUED: 0, JobStatus.RUNNING: 1, JobStatus.DONE: 2, JobStatus.FAILED: 2}
FINISHED = (JobStatus.DONE, JobStatus.FAILED)
# A longer Last-Event-ID is none of ours: the ids start again from 1.
MAX_EVENT_ID_DIGITS = 15


class TooManyStreams(Exception):
    """MAX_EVENT_STREAMS streams are open already."""


def first_event_id(last_event_id: str | None) -> int:
    """Ids go on after a reconnecting client's last one; anything but a number starts at 1."""
    if (
        last_event_id is not None
        and last_event_id.isascii()
        and last_event_id.isdigit()
        and len(last_event_id) <= MAX_EVENT_ID_DIGITS
    ):
        return int(last_event_id) + 1
    return 1


def event(event_id: int, view: JobView) -> bytes:
    # Compact JSON holds no raw newline: the view is one data line.
    return b"id: %d\nevent: %b\ndata: %b\n\n" % (
        event_id,
        view.status.value.encode(),
        view.model_dump_json().encode(),
    )


class EventStreams:
    """Opens job event streams, at most `limit` at once, and takes each back when it ends."""

    def __init__(
        self, listener: DoneListener, jobs: JobStore, settings: Settings, metrics: Metrics
    ) -> None:
        self.listener = listener
        self.jobs = jobs
        # A stream holds a connection for its job's life: half of them stay for /predict.
        self.limit = min(settings.max_event_streams, settings.max_connections // 2)
        if self.limit < settings.max_event_streams:
            log.warning(
                "MAX_EVENT_STREAMS (%d) is above half of MAX_CONNECTIONS (%d): at most %d "
                "event streams are served",
                settings.max_event_streams,
                settings.max_connections,
                self.limit,
            )
        self.keepalive_seconds = settings.event_keepalive_seconds
        self.open = 0
        # Read at each scrape: no cost on the stream's path.
        metrics.read_from(metrics.event_streams, lambda: self.open)

    async def stream(self, job_id: str, last_event_id: str | None) -> JobEventStream | None:
        """The job's stream with its current state; None for an unknown job."""
        if self.open >= self.limit:
            raise TooManyStreams
        # An id that is not ours reaches neither Redis nor the listener's table.
        if not is_job_id(job_id):
            return None
        self.open += 1
        # Watched before the read: a message that comes after it is seen, one before it is in
        # the record.
        watch = self.listener.watch(job_id)
        try:
            view = await self.jobs.get(job_id)
        except BaseException:
            self.close(watch)
            raise
        if view is None:
            self.close(watch)
            return None
        return JobEventStream(self, watch, view, first_event_id(last_event_id))

    def close(self, watch: JobWatch) -> None:
        self.open -= 1
        self.listener.unwatch(watch)


def states_so_far(view: JobView) -> list[JobView]:
    """The views of every state the job has been in, oldest first, from its current view.

    A stream that opens on a job already running or finished sends the states it passed
    through first (a job answered in milliseconds is done before its stream opens), each as
    `GET /jobs/{id}` answered while the job was in it. A job failed while queued never ran.
    """
    queued = view.model_copy(
        update={
            "status": JobStatus.QUEUED,
            "started_at": None,
            "finished_at": None,
            "model_version": None,
            "items": None,
            "error": None,
        }
    )
    if view.status is JobStatus.QUEUED:
        return [view]
    if view.started_at is None:
        return [queued, view]
    running = queued.model_copy(update={"status": JobStatus.RUNNING, "started_at": view.started_at})
    return [queued, running] if view.status is JobStatus.RUNNING else [queued, running, view]


class JobEventStream:
    """One job's events, streamed by Starlette's StreamingResponse.

    Its slot and its watch are given back however the stream ends: after the last event, when
    the client leaves (the response cancels the stream) and when the gateway drains.
    """

    def __init__(self, streams: EventStreams, watch: JobWatch, view: JobView, next_id: int) -> None:
        self.streams = streams
        self.watch = watch
        self.view = view
        self.next_id = next_id
        # A reconnecting client saw the earlier states already.
        self.from_start = next_id == 1
        self.closed = False

    def response(self) -> StreamingResponse:
        # No Content-Length: uvicorn sends it chunked.
        return StreamingResponse(
            self._stream(),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            background=BackgroundTask(self.close),
        )

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.streams.close(self.watch)

    async def _stream(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._events():
                yield chunk
        finally:
            self.close()

    async def _events(self) -> AsyncIterator[bytes]:
        watch, view = self.watch, self.view
        first = states_so_far(view) if self.from_start else [view]
        yield b"retry: %d\n\n%b" % (RETRY_MS, b"".join(map(self._event, first)))
        while view.status not in FINISHED and not watch.ended:
            if not await self._news():
                yield KEEPALIVE
                # A record that could not be read is tried again at the keep-alive's pace.
                if not watch.stale:
                    continue
            if watch.ended:
                return
            if watch.started and view.status is JobStatus.QUEUED:
                if watch.started_at is None:
                    # A start from a worker that sends no start time: the record has it.
                    watch.stale = True
                else:
                    view = view.model_copy(
                        update={"status": JobStatus.RUNNING, "started_at": watch.started_at}
                    )
                    yield self._event(view)
            watch.started = False
            if watch.finished or watch.stale:
                watch.finished = watch.stale = False
                try:
                    read = await self.streams.jobs.get(watch.job_id)
                except RedisError as exc:
                    log.warning(
                        "job=%s event stream could not read its record (%s)",
                        watch.job_id,
                        type(exc).__name__,
                    )
                    watch.stale = True
                    continue
                if read is None:
                    # Expired or deleted: nothing more will come.
                    return
                if PROGRESS[read.status] > PROGRESS[view.status]:
                    # A job that ran between two messages seen: its running state too.
                    passed = states_so_far(read)[PROGRESS[view.status] + 1 :]
                    view = read
                    yield b"".join(map(self._event, passed))

    async def _news(self) -> bool:
        """Wait for the listener to wake the stream; False when the keep-alive is due first."""
        try:
            async with asyncio.timeout(self.streams.keepalive_seconds):
                await self.watch.changed.wait()
        except TimeoutError:
            return False
        self.watch.changed.clear()
        return True

    def _event(self, view: JobView) -> bytes:
        chunk = event(self.next_id, view)
        self.next_id += 1
        return chunk
