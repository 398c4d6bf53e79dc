"""Task events leave the worker in batches, at most EVENT_FLUSH_SECONDS after they happen.

Celery already buffers a worker's task events and publishes them as one `task.multi` message,
but it flushes on the next turn of its event loop: about one publish per event, three per
task (received, started, succeeded), each a Redis round trip of the worker's main process.
Monitoring reads events every few seconds, so a short delay costs it nothing; the events
themselves are unchanged. The step is Celery's public extension API (a consumer bootstep
requiring the `Events` step, the consumer's `hub` and `event_dispatcher`, the dispatcher's
`flush`); pointing the dispatcher's buffer at the timer is not, and lives fenced in
worker/fenced_internals.py: with an unchecked Celery the worker flushes Celery's own way.
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

from worker import fenced_internals

EVENT_FLUSH_SECONDS = 0.05
# Celery flushes at once when this many events wait (its own default is 24).
EVENT_BUFFER_LIMIT = 500


class BatchedTaskEvents(bootsteps.StartStopStep):  # type: ignore[misc]
    """A consumer step after Celery's Events step: flush its buffer on a timer."""

    # The spelling Celery's guide to bootsteps gives for a step that uses `event_dispatcher`.
    requires = ("celery.worker.consumer:Events",)

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        super().__init__(consumer, **kwargs)
        self.scheduled = False

    def start(self, consumer: Any) -> None:
        dispatcher = consumer.event_dispatcher
        # Without Celery's event loop (no hub) events are not buffered in the first place.
        if consumer.hub is None or dispatcher is None:
            return
        self.scheduled = False

        def flush() -> None:
            self.scheduled = False
            # The consumer's current dispatcher: Celery makes a new one when it reconnects.
            if consumer.event_dispatcher is not None:
                consumer.event_dispatcher.flush()

        def on_send_buffered() -> None:
            if not self.scheduled:
                self.scheduled = True
                consumer.hub.call_later(EVENT_FLUSH_SECONDS, flush)

        fenced_internals.flush_buffered_events_with(
            dispatcher, on_send_buffered, EVENT_BUFFER_LIMIT
        )

    def shutdown(self, consumer: Any) -> None:
        # Runs before Celery's Events step closes the dispatcher: nothing buffered is lost.
        if consumer.event_dispatcher is not None:
            consumer.event_dispatcher.flush()
