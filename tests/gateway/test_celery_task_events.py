"""Task-sent events leave the gateway in batches, and every one of them arrives (real Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import redis

from gateway.celery_task_events import FLUSH_SECONDS
from gateway.dispatcher import Dispatcher, create_celery_client
from gateway.metrics import Metrics
from gateway.settings import Settings
from scripts.stack import LocalStack

JOBS = 13


class Capture(threading.Thread):
    """Celery's own event receiver, as the exporter uses it: every task-sent event it sees."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.app = create_celery_client(settings)
        self.events: list[dict[str, Any]] = []
        self.messages = 0

    def run(self) -> None:
        with self.app.connection_for_read() as conn:
            receiver = self.app.events.Receiver(conn, handlers={"task-sent": self.events.append})
            self.receiver = receiver
            original = receiver._receive

            def count(body: Any, message: Any) -> None:
                self.messages += 1
                original(body, message)

            receiver._receive = count
            with contextlib.suppress(TimeoutError):
                receiver.capture(limit=None, timeout=10, wakeup=False)


def _subscribed(url: str) -> bool:
    # kombu's Redis transport listens to a fanout exchange with PSUBSCRIBE.
    client = redis.Redis.from_url(url)
    try:
        return int(client.pubsub_numpat()) > 0
    finally:
        client.close()


def test_every_task_sent_event_arrives_batched_and_the_last_ones_at_shutdown(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    settings = Settings(redis_url=str(stack.redis_url), max_tasks_in_flight=100)
    capture = Capture(settings)
    capture.start()
    # Events are pub/sub: publish only once the receiver listens.
    deadline = time.monotonic() + 10
    while not _subscribed(str(stack.redis_url)):
        assert time.monotonic() < deadline, "the event receiver never subscribed"
        time.sleep(0.05)

    async def run() -> list[str]:
        dispatcher = Dispatcher(create_celery_client(settings), None, settings, Metrics())  # type: ignore[arg-type]
        runner = asyncio.create_task(dispatcher.run())
        published: list[str] = []
        jobs_sent: list[str] = []
        all_sent = asyncio.Event()
        loop = asyncio.get_running_loop()
        original = dispatcher._publish

        def publish(task_id: str, jobs: list[dict[str, Any]]) -> None:
            original(task_id, jobs)
            published.append(task_id)
            jobs_sent.extend(job["job_id"] for job in jobs)
            if len(jobs_sent) == JOBS:
                loop.call_soon_threadsafe(all_sent.set)

        dispatcher._publish = publish  # type: ignore[method-assign]
        for i in range(JOBS - 1):
            dispatcher.submit(f"{i:032x}", [[5.1, 3.5, 1.4, 0.2]])
            await asyncio.sleep(0.005)
        await asyncio.sleep(FLUSH_SECONDS * 4)
        # One more task: its event waits for a timer that the shutdown flush beats.
        dispatcher.submit(f"{JOBS:032x}", [[5.1, 3.5, 1.4, 0.2]])
        await asyncio.wait_for(all_sent.wait(), 10)
        runner.cancel()
        await dispatcher.flush()
        dispatcher.close()
        return published

    published = asyncio.run(run())
    deadline = time.monotonic() + 10
    while len(capture.events) < len(published) and time.monotonic() < deadline:
        time.sleep(0.05)
    capture.receiver.should_stop = True
    capture.join(15)
    assert sorted(e["uuid"] for e in capture.events) == sorted(published)
    assert {e["name"] for e in capture.events} == {"irisq.predict"}
    assert all(e["queue"] == "celery" for e in capture.events)
    # Batched: far fewer messages than events (one per task without the buffer).
    assert capture.messages <= len(published) // 2
