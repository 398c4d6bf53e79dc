"""The Celery app `bench.celery_floor` runs: one task that does nothing, configured from FLOOR_*.

`celery -A bench.floor_app worker` needs a module-level app, as the worker's own does; it
connects to nothing until used. FLOOR_CONFIG=irisq gives irisq's worker configuration (its
transport, late acks, batched task events); the FLOOR_* switches take one part away each.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready

from contract.broker import TRANSPORT
from worker.events import BatchedTaskEvents

READY_KEY = "floor:ready"
TASK = "floor.noop"


def create_floor_app(env: Mapping[str, str]) -> Celery:
    irisq = env.get("FLOOR_CONFIG", "irisq") == "irisq"
    events = env.get("FLOOR_EVENTS", "batched")
    app = Celery("floor", broker=env.get("FLOOR_BROKER_URL"))
    app.conf.update(
        task_acks_late=env.get("FLOOR_ACKS_LATE", "1") == "1",
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        worker_send_task_events=events != "off",
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
    )
    if irisq:
        app.conf.broker_transport = TRANSPORT
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
