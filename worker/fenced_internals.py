"""The one private library internal the worker relies on, fenced: Celery's event buffer hook.

A worker's task events go through the dispatcher that Celery's `Events` consumer step builds.
With an event loop, that step makes the dispatcher hold the `task` group's events and call
`on_send_buffered` after each one, which Celery points at a flush on the next turn of the
loop: about one publish, one Redis round trip of the main process, per event. The batching
step (worker/events.py) replaces `on_send_buffered` and `buffer_limit` on that live dispatcher
so its buffer is flushed on a timer instead. Neither is documented API: they are keywords of
the dispatcher's constructor, set by Celery's own step, and what they do is Celery's internal
structure. The worker's CPU per task is the reason (docs/optimisations.md).

The hook is used only with the Celery versions it was checked against (CELERY_CHECKED); with
any other the dispatcher keeps Celery's own flushing and the worker logs a warning at start.
tests/worker/test_fenced_internals.py fails when the installed Celery is not one of them or
no longer buffers events this way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import celery

log = logging.getLogger("irisq.worker")

# Major.minor versions of Celery whose event dispatcher this hook was checked against.
CELERY_CHECKED = ("5.7",)


def celery_checked(version: str = celery.__version__) -> bool:
    return ".".join(version.split(".")[:2]) in CELERY_CHECKED


def warn_if_unchecked() -> None:
    if not celery_checked():
        log.warning(
            "Celery %s is not one of the versions %s that irisq's batched task events were "
            "checked against: the worker publishes its task events Celery's own way, about "
            "one publish per event",
            celery.__version__,
            ", ".join(CELERY_CHECKED),
        )


def flush_buffered_events_with(
    dispatcher: Any, on_send_buffered: Callable[[], None], buffer_limit: int
) -> bool:
    """Point the buffer of Celery's task events at `on_send_buffered`; False if left as it is."""
    # Celery gives the dispatcher a callback only when it buffers, that is with an event loop.
    if not celery_checked() or not dispatcher.on_send_buffered:
        return False
    dispatcher.buffer_limit = buffer_limit
    dispatcher.on_send_buffered = on_send_buffered
    return True
