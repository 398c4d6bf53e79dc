"""Celery's task-sent events for the tasks the gateway sends, sent in batches.

Celery's `task_send_sent_event` publishes each task's event on its own right after the task: a
second Redis round trip per publish, as costly as the publish itself. Here the gateway sends
the same event (the fields Celery's own has) through Celery's public event dispatcher with a
buffer: a group of events leaves as one `task.multi` message, which event receivers (the
Celery exporter among them) read like single events, as the workers' own events do
(worker/events.py).
"""

from __future__ import annotations

from celery import Celery

# Monitoring reads events every few seconds: a short delay costs it nothing.
FLUSH_SECONDS = 0.05
# Celery flushes at once when this many events wait.
BUFFER_LIMIT = 500


class TaskSentEvents:
    """Buffers a task-sent event per task until `flush`.

    Not thread-safe beyond Celery's own lock: the gateway sends and flushes from one thread.
    """

    def __init__(self, celery: Celery) -> None:
        self.dispatcher = celery.events.Dispatcher(
            connection=celery.connection_for_write(),
            buffer_group=["task"],
            buffer_limit=BUFFER_LIMIT,
        )

    def sent(self, task_id: str, name: str, argsrepr: str, kwargsrepr: str, queue: str) -> None:
        """The task is in its queue (Redis' default exchange routes by the queue's name)."""
        self.dispatcher.send(
            "task-sent",
            uuid=task_id,
            root_id=None,
            parent_id=None,
            name=name,
            args=argsrepr,
            kwargs=kwargsrepr,
            retries=0,
            eta=None,
            expires=None,
            queue=queue,
            exchange="",
            routing_key=queue,
        )

    def flush(self) -> None:
        # Celery's dispatcher keeps what it could not send for the next flush.
        self.dispatcher.flush()

    def close(self) -> None:
        self.dispatcher.close()
        self.dispatcher.connection.release()
