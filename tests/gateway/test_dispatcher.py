"""The dispatcher's bookkeeping of tasks in flight (the publishing itself is tested live)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.dispatcher import Dispatcher
from gateway.metrics import Metrics
from gateway.settings import Settings


class FastWorkerDispatcher(Dispatcher):
    """Publishing that takes 50 ms, during which a worker already reports the task done."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(celery=None, settings=settings, metrics=Metrics())  # type: ignore[arg-type]
        self.loop = asyncio.get_running_loop()
        self.tasks: list[list[dict[str, Any]]] = []

    def _publish(self, task_id: str, jobs: list[dict[str, Any]]) -> None:
        self.tasks.append(jobs)
        self.loop.call_soon_threadsafe(self.task_done, task_id)
        time.sleep(0.05)


def test_a_task_done_before_its_publish_returns_leaves_nothing_in_flight() -> None:
    async def run() -> FastWorkerDispatcher:
        dispatcher = FastWorkerDispatcher(Settings(max_tasks_in_flight=2))
        runner = asyncio.create_task(dispatcher.run())
        for i in range(3):
            dispatcher.submit(f"{i:032x}", [[5.1, 3.5, 1.4, 0.2]])
            await asyncio.sleep(0.2)
        runner.cancel()
        dispatcher.close()
        return dispatcher

    dispatcher = asyncio.run(run())
    assert len(dispatcher.tasks) == 3
    # Before the fix the entry was made after the publish returned, so the outcome found
    # nothing to clear and each such task held a slot until IN_FLIGHT_EXPIRY_SECONDS.
    assert dispatcher.in_flight == {}
