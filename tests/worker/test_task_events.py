"""A real worker reports every task event, in batches (worker/events.py)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter

import redis

from contract.tasks import TASK_NAME, task_job
from gateway.dispatcher import create_celery_client
from gateway.settings import Settings
from scripts.stack import LocalStack

TASKS = 20
TASK_EVENTS = ("task-received", "task-started", "task-succeeded")


def _events(payload: bytes) -> list[dict[str, object]]:
    message = json.loads(payload)
    body = json.loads(base64.b64decode(message["body"]))
    return body if isinstance(body, list) else [body]


def test_every_task_event_arrives_in_fewer_messages_than_tasks(stack: LocalStack) -> None:
    stack.start_redis()
    stack.start_worker()
    client = redis.Redis.from_url(str(stack.redis_url))
    events = client.pubsub(ignore_subscribe_messages=True)
    events.psubscribe("*celeryev*")
    celery = create_celery_client(Settings(redis_url=str(stack.redis_url)))
    sent = [uuid.uuid4().hex for _ in range(TASKS)]
    for task_id in sent:
        job = task_job(uuid.uuid4().hex, [[5.1, 3.5, 1.4, 0.2]])
        celery.send_task(TASK_NAME, args=[[job]], task_id=task_id)

    seen: Counter[str] = Counter()
    worker_messages = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(seen[t] < TASKS for t in TASK_EVENTS):
        message = events.get_message(timeout=0.5)
        if message is None:
            continue
        batch = [e for e in _events(message["data"]) if e.get("uuid") in sent]
        if any(e["type"] in TASK_EVENTS for e in batch):
            worker_messages += 1
        seen.update(str(e["type"]) for e in batch)
    events.close()
    client.close()
    celery.close()

    assert {t: seen[t] for t in TASK_EVENTS} == dict.fromkeys(TASK_EVENTS, TASKS)
    # Celery's own flush sends about one message per event (3 per task); batched, far fewer.
    assert worker_messages <= TASKS // 2
