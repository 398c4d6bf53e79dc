"""The dispatcher's bookkeeping of tasks in flight (the publishing itself is tested live)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from redis.asyncio import Redis

from contract.broker import TASK_QUEUE
from contract.messages import started_message
from gateway.dispatcher import MAX_SENDS, Dispatcher
from gateway.done_listener import DoneListener
from gateway.metrics import Metrics
from gateway.settings import Settings
from scripts.stack import LocalStack


class FastWorkerDispatcher(Dispatcher):
    """Publishing that takes 50 ms, during which a worker already reports the task done."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(None, None, settings, Metrics())  # type: ignore[arg-type]
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
    # The in-flight entry is made before the publish: an outcome that arrives while the publish
    # returns must find it to clear, or the task holds a slot until IN_FLIGHT_EXPIRY_SECONDS.
    assert dispatcher.in_flight == {}


class RecordingDispatcher(Dispatcher):
    """Publishing that only records the task; the test plays the worker's messages."""

    def __init__(self, settings: Settings, redis: Redis | None = None) -> None:
        super().__init__(None, redis, settings, Metrics())  # type: ignore[arg-type]
        self.tasks: list[tuple[str, list[str]]] = []

    def _publish(self, task_id: str, jobs: list[dict[str, Any]]) -> None:
        self.tasks.append((task_id, [job["job_id"] for job in jobs]))


def test_jobs_wait_for_the_queued_task_to_start_then_travel_together() -> None:
    async def run() -> list[list[list[str]]]:
        # Slots to spare and a long time bound: only the queued task holds jobs back.
        settings = Settings(max_tasks_in_flight=10, coalesce_max_wait_ms=10_000)
        dispatcher = RecordingDispatcher(settings)
        listener = DoneListener(
            None,  # type: ignore[arg-type]
            dispatcher,
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            Metrics(),
            settings.job_timeout_seconds,
        )
        runner = asyncio.create_task(dispatcher.run())
        seen: list[list[list[str]]] = []

        async def settle() -> None:
            await asyncio.sleep(0.05)
            seen.append([jobs for _, jobs in dispatcher.tasks])

        dispatcher.submit("a", [[5.1, 3.5, 1.4, 0.2]])
        await settle()  # [a] sent at once: nothing was waiting
        dispatcher.submit("b", [[5.1, 3.5, 1.4, 0.2]])
        dispatcher.submit("c", [[5.1, 3.5, 1.4, 0.2]])
        await settle()  # b and c gather: task 1 has no worker yet
        task_id, job_ids = dispatcher.tasks[0]
        listener.deliver(started_message(task_id, job_ids, time.time()))
        await settle()  # task 1 started: b and c leave together
        dispatcher.submit("d", [[5.1, 3.5, 1.4, 0.2]])
        await settle()  # task 2 still waits for a worker
        listener.deliver(orjson.dumps({"task_id": dispatcher.tasks[1][0], "jobs": {}}))
        await settle()  # a task that finished has started too
        runner.cancel()
        dispatcher.close()
        return seen

    assert asyncio.run(run()) == [
        [["a"]],
        [["a"]],
        [["a"], ["b", "c"]],
        [["a"], ["b", "c"]],
        [["a"], ["b", "c"], ["d"]],
    ]


def test_by_default_every_worker_that_starts_a_task_gets_the_next_one_at_once() -> None:
    """Scaling out needs no gateway setting: only a queued task holds jobs back."""

    async def run() -> list[list[str]]:
        # A long time bound: a job held back would not leave within the test.
        dispatcher = RecordingDispatcher(Settings(coalesce_max_wait_ms=10_000))
        runner = asyncio.create_task(dispatcher.run())
        for i in range(8):  # eight workers, each taking the task sent before
            dispatcher.submit(f"job{i}", [[5.1, 3.5, 1.4, 0.2]])
            await asyncio.sleep(0.05)
            assert len(dispatcher.tasks) == i + 1, f"job{i} held back"
            dispatcher.task_started(dispatcher.tasks[i][0])
        runner.cancel()
        dispatcher.close()
        return [jobs for _, jobs in dispatcher.tasks]

    assert asyncio.run(run()) == [[f"job{i}"] for i in range(8)]


ROW = [[5.1, 3.5, 1.4, 0.2]]


def test_a_task_taken_off_the_queue_without_an_outcome_is_sent_again_until_it_has_one(
    stack: LocalStack,
) -> None:
    """A worker killed with the task it popped: the gateway sends that task again."""
    stack.start_redis()

    async def run() -> tuple[list[tuple[str, list[str]]], int, int]:
        redis = Redis.from_url(str(stack.redis_url))
        settings = Settings(task_redelivery_seconds=0.2, coalesce_max_wait_ms=0)
        dispatcher = RecordingDispatcher(settings, redis)
        runner = asyncio.create_task(dispatcher.run())
        try:
            dispatcher.submit("lost", ROW)
            await asyncio.sleep(0.05)
            dispatcher.submit("later", ROW)
            await asyncio.sleep(0.05)
            (lost, _), (later, _) = dispatcher.tasks
            # The later task started, so the first was popped before it: it is overdue once
            # no outcome came within the redelivery time.
            dispatcher.task_started(later)
            dispatcher.task_done(later)
            early = await dispatcher.redeliver_overdue()
            await asyncio.sleep(0.3)
            resent = await dispatcher.redeliver_overdue()
            dispatcher.task_done(lost)  # the second run's outcome
            await asyncio.sleep(0.3)
            after = await dispatcher.redeliver_overdue()
            return dispatcher.tasks, early + after, resent
        finally:
            runner.cancel()
            dispatcher.close()
            await redis.aclose()

    tasks, early_and_after, resent = asyncio.run(run())
    assert (early_and_after, resent) == (0, 1)
    assert [jobs for _, jobs in tasks] == [["lost"], ["later"], ["lost"]]
    assert tasks[2][0] == tasks[0][0], "sent again under its own task id"


def test_a_task_still_waiting_in_the_queue_is_not_sent_again_and_a_lost_one_is(
    stack: LocalStack,
) -> None:
    """No worker at all: the task waits in the queue, and the gateway must not pile copies."""
    stack.start_redis()

    async def run() -> tuple[int, int, int]:
        redis = Redis.from_url(str(stack.redis_url))
        dispatcher = RecordingDispatcher(Settings(task_redelivery_seconds=0.2), redis)
        runner = asyncio.create_task(dispatcher.run())
        try:
            dispatcher.submit("waiting", ROW)
            await redis.lpush(TASK_QUEUE, b"the task, as Celery queued it")
            await asyncio.sleep(0.4)
            waiting = await dispatcher.redeliver_overdue()
            await redis.delete(TASK_QUEUE)  # popped by a worker that died before it started
            lost = await dispatcher.redeliver_overdue()
            # Sent MAX_SENDS times and still no outcome: left to the sweeper.
            for _ in range(MAX_SENDS):
                await asyncio.sleep(0.3)
                await dispatcher.redeliver_overdue()
            return waiting, lost, len(dispatcher.in_flight)
        finally:
            runner.cancel()
            dispatcher.close()
            await redis.aclose()

    assert asyncio.run(run()) == (0, 1, 0)
