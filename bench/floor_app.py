"""The Celery app `bench.celery_floor` runs: one task that does nothing, configured from FLOOR_*.

`celery -A bench.floor_app worker` needs a module-level app, as the worker's own does; it
connects to nothing until used. It runs with the worker's own Celery configuration
(`worker.celery_conf`: late acks, events) and batched task events; the
FLOOR_* switches change one part each.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready

from worker.celery_conf import celery_conf
from worker.events import BatchedTaskEvents
from worker.settings import WorkerSettings

READY_KEY = "floor:ready"
TASK = "floor.noop"


def create_floor_app(env: Mapping[str, str]) -> Celery:
    broker_url = env.get("FLOOR_BROKER_URL")
    events = env.get("FLOOR_EVENTS", "batched")
    app = Celery("floor", broker=broker_url)
    app.conf.update(celery_conf(WorkerSettings(redis_url=broker_url)))
    app.conf.update(
        task_acks_late=env.get("FLOOR_ACKS_LATE", "1") == "1",
        worker_send_task_events=events != "off",
        # The sender's task-sent events are out of the worker's figure.
        task_send_sent_event=False,
    )
    if events == "batched":
        app.steps["consumer"].add(BatchedTaskEvents)

    @app.task(name=TASK)
    def noop(n: int) -> None:
        return None

    return app


app = create_floor_app(os.environ)


@worker_ready.connect
def _mark_ready(**_: Any) -> None:
    redis.Redis.from_url(app.conf.broker_url).set(READY_KEY, 1)
