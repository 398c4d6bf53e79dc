"""The worker's fenced library internal (worker/fenced_internals.py) still holds.

These fail when Celery changes underneath the hook: a new version must be checked (and added
to CELERY_CHECKED) before the worker's task events are flushed on a timer with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import celery
import pytest
from celery import Celery
from celery.utils.imports import symbol_by_name
from celery.worker.consumer import Consumer
from celery.worker.consumer.events import Events

from worker import fenced_internals
from worker.events import EVENT_BUFFER_LIMIT, EVENT_FLUSH_SECONDS, BatchedTaskEvents
from worker.fenced_internals import CELERY_CHECKED, celery_checked

TASK_EVENTS = ("task-received", "task-started", "task-succeeded")


class _Hub:
    """Records what the steps ask of the event loop; runs the timers when told."""

    def __init__(self) -> None:
        self.soon: list[object] = []
        self.later: list[tuple[float, Callable[[], None]]] = []

    def call_soon(self, callback: object) -> None:
        self.soon.append(callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        self.later.append((delay, callback))

    def run_timers(self) -> None:
        due, self.later = self.later, []
        for _, callback in due:
            callback()


class _Consumer(SimpleNamespace):
    """The consumer attributes Celery's Events step and BatchedTaskEvents use."""

    def on_send_event_buffered(self) -> None:
        self.hub.call_soon("celery's flush")


@pytest.fixture
def app() -> Iterator[Celery]:
    celery_app = Celery("irisq-fenced-test", broker="memory://")
    yield celery_app
    celery_app.close()


def _consumer(app: Celery, hub: _Hub | None) -> _Consumer:
    return _Consumer(
        app=app,
        hostname="fenced@test",
        hub=hub,
        amqheartbeat=0,
        connection_for_write=lambda heartbeat=None: app.connection_for_write(),
    )


def _start_celerys_events(consumer: _Consumer) -> list[tuple[str, Any]]:
    """Start Celery's own Events step; returns the list its dispatcher's publishes go to."""
    Events(consumer).start(consumer)
    published: list[tuple[str, Any]] = []
    dispatcher = consumer.event_dispatcher
    # kombu's Producer.publish, the one call every event message makes.
    dispatcher.producer.publish = lambda body, routing_key, **_: published.append(
        (routing_key, body)
    )
    return published


def _send_task_events(consumer: _Consumer, tasks: int) -> None:
    for n in range(tasks):
        for event in TASK_EVENTS:
            consumer.event_dispatcher.send(event, uuid=f"task-{n}")


def test_the_installed_celery_is_one_the_hook_was_checked_against() -> None:
    assert celery_checked(), (
        f"Celery {celery.__version__} is not in CELERY_CHECKED {CELERY_CHECKED}: check "
        "BatchedTaskEvents against it (the tests below) and add it"
    )


def test_other_versions_are_not_checked() -> None:
    assert not celery_checked("5.6.3")
    assert not celery_checked("6.0.0")


def test_the_events_step_the_batching_step_requires_is_celerys_own() -> None:
    (required,) = BatchedTaskEvents.requires
    assert symbol_by_name(required) is Events
    assert "celery.worker.consumer.events:Events" in Consumer.Blueprint.default_steps


def test_with_an_event_loop_celerys_dispatcher_buffers_task_events_behind_a_callback(
    app: Celery,
) -> None:
    # What the hook relies on: the attributes it replaces, and what Celery does with them.
    hub = _Hub()
    consumer = _consumer(app, hub)
    published = _start_celerys_events(consumer)
    dispatcher = consumer.event_dispatcher
    assert "task" in dispatcher.buffer_group
    assert dispatcher.on_send_buffered == consumer.on_send_event_buffered
    assert isinstance(dispatcher.buffer_limit, int)

    _send_task_events(consumer, 1)
    assert published == []
    assert hub.soon == ["celery's flush"] * len(TASK_EVENTS)
    dispatcher.flush()
    ((routing_key, body),) = published
    assert routing_key == "task.multi"
    assert [event["type"] for event in body] == list(TASK_EVENTS)

    # A full buffer is flushed at once, callback or not.
    published.clear()
    dispatcher.buffer_limit = 2
    dispatcher.send("task-received", uuid="a")
    dispatcher.send("task-received", uuid="b")
    assert [len(body) for _, body in published] == [2]
    dispatcher.close()


def test_without_an_event_loop_celerys_dispatcher_buffers_nothing(app: Celery) -> None:
    consumer = _consumer(app, None)
    published = _start_celerys_events(consumer)
    assert not consumer.event_dispatcher.on_send_buffered
    consumer.event_dispatcher.send("task-received", uuid="a")
    assert [routing_key for routing_key, _ in published] == ["task.received"]
    consumer.event_dispatcher.close()


def test_batched_task_events_leave_as_one_message_when_the_timer_fires(app: Celery) -> None:
    hub = _Hub()
    consumer = _consumer(app, hub)
    published = _start_celerys_events(consumer)
    step = BatchedTaskEvents(consumer)
    step.start(consumer)
    assert consumer.event_dispatcher.buffer_limit == EVENT_BUFFER_LIMIT

    _send_task_events(consumer, 10)
    assert published == []
    assert hub.soon == []
    assert [delay for delay, _ in hub.later] == [EVENT_FLUSH_SECONDS]
    hub.run_timers()
    assert [len(body) for _, body in published] == [10 * len(TASK_EVENTS)]

    # The next event starts the next timer.
    _send_task_events(consumer, 1)
    assert len(hub.later) == 1
    step.shutdown(consumer)
    assert [len(body) for _, body in published] == [10 * len(TASK_EVENTS), len(TASK_EVENTS)]
    consumer.event_dispatcher.close()


def test_an_unchecked_celery_keeps_its_own_flushing_and_gets_a_warning(
    app: Celery, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(fenced_internals, "CELERY_CHECKED", ("0.0",))
    hub = _Hub()
    consumer = _consumer(app, hub)
    published = _start_celerys_events(consumer)
    BatchedTaskEvents(consumer).start(consumer)
    assert consumer.event_dispatcher.on_send_buffered == consumer.on_send_event_buffered

    _send_task_events(consumer, 1)
    assert hub.later == []
    assert hub.soon == ["celery's flush"] * len(TASK_EVENTS)
    assert published == []
    consumer.event_dispatcher.close()
    with caplog.at_level(logging.WARNING, logger="irisq.worker"):
        fenced_internals.warn_if_unchecked()
    assert "Celery's own way" in caplog.text
