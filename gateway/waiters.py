"""One Redis subscription serves every request that waits for a job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from contract import DONE_CHANNEL

log = logging.getLogger("irisq.gateway")

Outcome = dict[str, Any]


class DoneListener:
    """Resolves the future of each waiting job when a worker publishes its outcome.

    A request registers before its task is sent, so a fast worker cannot finish unseen.
    """

    def __init__(
        self,
        redis: Redis,
        on_task_done: Callable[[str], None],
        on_model_version: Callable[[str], None] | None = None,
        on_task_started: Callable[[str], None] | None = None,
    ) -> None:
        self.redis = redis
        self.on_task_done = on_task_done
        self.on_task_started = on_task_started
        self.on_model_version = on_model_version
        self.futures: dict[str, asyncio.Future[Outcome]] = {}
        self.subscribed = asyncio.Event()

    def register(self, job_id: str) -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.futures[job_id] = future
        return future

    def discard(self, job_id: str) -> None:
        self.futures.pop(job_id, None)

    def deliver(self, data: bytes) -> None:
        message = orjson.loads(data)
        task_id = message.get("task_id")
        if message.get("started"):
            if task_id and self.on_task_started:
                self.on_task_started(task_id)
            return
        if task_id:
            self.on_task_done(task_id)
        for job_id, outcome in message.get("jobs", {}).items():
            version = outcome.get("model_version")
            if version and self.on_model_version:
                self.on_model_version(version)
            future = self.futures.pop(job_id, None)
            if future is not None and not future.done():
                future.set_result(outcome)

    async def run(self) -> None:
        backoff = 0.05
        while True:
            try:
                async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(DONE_CHANNEL)
                    self.subscribed.set()
                    backoff = 0.05
                    log.info("listening on %s", DONE_CHANNEL)
                    while True:
                        # A bounded read: an idle channel is not an error.
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None and message["type"] == "message":
                            try:
                                self.deliver(message["data"])
                            except (orjson.JSONDecodeError, AttributeError, TypeError):
                                log.warning("ignoring a malformed message on %s", DONE_CHANNEL)
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("subscription lost (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
