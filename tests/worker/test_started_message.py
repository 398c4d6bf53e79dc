"""A real worker announces each task's start on the done channel, before its outcome, naming
the task's jobs."""

from __future__ import annotations

import time
import uuid

import redis

from contract.jobs import JobField, job_key
from contract.messages import DONE_CHANNEL, parse
from contract.tasks import TASK_NAME, task_job
from gateway.dispatcher import create_celery_client
from gateway.settings import Settings
from scripts.stack import LocalStack
from tests.support.job_records import queued_job


def test_the_started_message_comes_with_the_running_marks_and_before_the_outcome(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    stack.start_worker()
    client = redis.Redis.from_url(str(stack.redis_url))
    channel = client.pubsub(ignore_subscribe_messages=True)
    channel.subscribe(DONE_CHANNEL)
    celery = create_celery_client(Settings(redis_url=str(stack.redis_url)))
    task_id, job_id = uuid.uuid4().hex, queued_job(client)
    celery.send_task(TASK_NAME, args=[[task_job(job_id, [[5.1, 3.5, 1.4, 0.2]])]], task_id=task_id)

    messages = []
    deadline = time.monotonic() + 20
    while len(messages) < 2 and time.monotonic() < deadline:
        message = channel.get_message(timeout=0.5)
        if message is not None:
            messages.append(parse(message["data"]))
    started_at = client.hget(job_key(job_id), JobField.STARTED_AT)
    channel.close()
    client.close()
    celery.close()

    assert started_at is not None
    # It names the task's jobs, with their records' start time to the last digit: an event
    # stream builds the running view from it (gateway/job_events.py).
    assert messages[0] == {
        "task_id": task_id,
        "started": True,
        "started_at": float(started_at),
        "jobs": [job_id],
    }
    assert messages[1]["task_id"] == task_id
    assert messages[1]["jobs"][job_id]["status"] == "done"
