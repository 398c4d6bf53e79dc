"""Whether a worker answers: a Celery ping, shared by every caller for a short while."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from celery import Celery

WORKER_PING_SECONDS = 1.0


class WorkerCheck:
    """Whether a worker answers a Celery ping, asked at most once per `cache_seconds`.

    The ping is a broadcast every worker answers: an answer is reused for `cache_seconds`
    from when its ping was sent, and callers who come while a ping is out wait for that one,
    so /ready costs the workers one ping per period however often it is called. A worker
    that stops shows within `cache_seconds` + WORKER_PING_SECONDS.
    """

    def __init__(self, celery: Celery, cache_seconds: float) -> None:
        self.celery = celery
        self.cache_seconds = cache_seconds
        self._answer = ""
        self._asked = -float("inf")
        self._pending: asyncio.Task[str] | None = None

    async def status(self) -> str:
        if time.monotonic() - self._asked < self.cache_seconds:
            return self._answer
        if self._pending is None:
            self._pending = asyncio.create_task(self._ping(), name="worker-ping")
        # Shielded: a caller that goes away does not cancel the ping the others wait for.
        return await asyncio.shield(self._pending)

    async def _ping(self) -> str:
        asked = time.monotonic()

        def ping() -> list[Any]:
            replies: list[Any] = self.celery.control.ping(timeout=WORKER_PING_SECONDS, limit=1)
            return replies

        try:
            replies = await asyncio.to_thread(ping)
        except Exception as exc:
            answer = f"unreachable ({type(exc).__name__})"
        else:
            answer = "ok" if replies else "no worker answered"
        finally:
            self._pending = None
        self._answer, self._asked = answer, asked
        return answer
