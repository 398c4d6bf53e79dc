"""Task events leave the worker in batches, at most EVENT_FLUSH_SECONDS after they happen.

Celery already buffers a worker's task events and publishes them as one `task.multi` message,
but it flushes on the next turn of its event loop: about one publish per event, three per
task (received, started, succeeded), each a Redis round trip of the worker's main process.
Monitoring reads events every few seconds, so a short delay costs it nothing; the events
themselves are unchanged. Built on Celery's public parts: a consumer bootstep, the
consumer's `hub` and `event_dispatcher`, and the dispatcher's buffer (`buffer_limit`,
`on_send_buffered`, `flush`).
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

EVENT_FLUSH_SECONDS = 0.05
# Celery flushes at once when this many events wait (its own default is 24).
EVENT_BUFFER_LIMIT = 500


class BatchedTaskEvents(bootsteps.StartStopStep):  # type: ignore[misc]
    """A consumer step after Celery's Events step: flush its buffer on a timer."""

    requires = ("celery.worker.consumer.events:Events",)

    def __init__(self, consumer: Any, **kwargs: Any) -> None:
        super().__init__(consumer, **kwargs)
        self.scheduled = False

    def start(self, consumer: Any) -> None:
        dispatcher = consumer.event_dispatcher
        # Without Celery's event loop (no hub) events are not buffered in the first place.
        if consumer.hub is None or dispatcher is None or not dispatcher.on_send_buffered:
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

        dispatcher.buffer_limit = EVENT_BUFFER_LIMIT
        dispatcher.on_send_buffered = on_send_buffered

    def shutdown(self, consumer: Any) -> None:
        # Runs before Celery's Events step closes the dispatcher: nothing buffered is lost.
        if consumer.event_dispatcher is not None:
            consumer.event_dispatcher.flush()
