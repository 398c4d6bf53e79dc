"""Celery's configuration for the worker: the queue's safety settings, from WorkerSettings.

A module of its own, free of signal handlers, so a bench app can run with the same settings.
"""

from __future__ import annotations

from typing import Any

from contract.broker import TASK_CONTENT_TYPE, TASK_QUEUE
from worker.settings import WorkerSettings


def _restore_interval(visibility_timeout: float) -> int:
    """Seconds between sweeps for abandoned tasks: a fifth of the visibility timeout."""
    return max(1, int(visibility_timeout // 5))


def celery_conf(settings: WorkerSettings) -> dict[str, Any]:
    return {
        # A task is acknowledged after it ran, and given back if its process dies, so a
        # killed worker loses nothing (a prefetched task too: it is unacknowledged).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": settings.prefetch_multiplier,
        # An unacknowledged task returns to the queue after this long (a worker killed
        # whole, SIGKILL of the main process). Must exceed task_time_limit.
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout,
            # kombu sweeps for such tasks only every interval x throttle seconds (10 x 10 by
            # default): a lost task would wait up to 100 s past the timeout. Sweep often.
            "unacked_restore_interval": _restore_interval(settings.visibility_timeout),
            "unacked_restore_throttle": 1,
        },
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        # Job results live in irisq's own job records: Celery keeps none (no result backend).
        "task_ignore_result": True,
        # The gateway reads this queue's length to tell a waiting task from a lost one.
        "task_default_queue": TASK_QUEUE,
        "task_serializer": "json",
        # The gateway sends the predict task's body as orjson (contract/broker.py).
        "accept_content": ["json", TASK_CONTENT_TYPE],
        # Events let the Celery exporter count every task sent, started and finished.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    }
