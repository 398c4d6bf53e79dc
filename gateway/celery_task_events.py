"""The gateway's task-sent events leave in batches, as the workers' own events do.

With `task_send_sent_event`, Celery publishes each task's task-sent event on its own right
after the task: a second Redis round trip per publish, as costly as the publish itself.
Celery's event dispatcher can
buffer a group of events and send them as one `task.multi` message, which event receivers
(the Celery exporter among them) read like single events; the workers already send theirs
so (worker/events.py). The events themselves are the ones Celery builds, unchanged.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.events import Event, EventDispatcher

# Monitoring reads events every few seconds: a short delay costs it nothing.
FLUSH_SECONDS = 0.05
# Celery flushes at once when this many events wait.
BUFFER_LIMIT = 500


class BufferedSentEvents(EventDispatcher):  # type: ignore[misc]
    """Keeps the events Celery's `send_task` hands it until `flush`.

    Celery calls `publish` with the event it built (and its own producer); here the event
    joins the buffer of its group instead. Not thread-safe beyond Celery's own lock: the
    gateway publishes and flushes from one thread.
    """

    def __init__(self, celery: Celery) -> None:
        super().__init__(
            connection=celery.connection_for_write(),
            app=celery,
            buffer_group=["task"],
            buffer_limit=BUFFER_LIMIT,
        )

    def publish(
        self,
        type: str,
        fields: dict[str, Any],
        producer: Any,
        blind: bool = False,
        Event: Any = Event,
        **_: Any,
    ) -> None:
        self.send(type, blind=blind, Event=Event, **fields)

    def close(self) -> None:
        super().close()
        self.connection.release()
