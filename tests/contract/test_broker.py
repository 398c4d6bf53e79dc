"""How both services use the broker: stock kombu Redis, with orjson task bodies."""

from __future__ import annotations

import redis

from contract.broker import TASK_CONTENT_TYPE
from contract.tasks import task_job
from gateway.dispatcher import Dispatcher, create_celery_client
from gateway.metrics import Metrics
from gateway.settings import Settings
from scripts.stack import LocalStack
from tests.support.celery_queue import task_jobs, task_message
from worker.celery_app import create_celery_app
from worker.settings import WorkerSettings


def test_the_dispatcher_publishes_an_orjson_body_the_worker_accepts(stack: LocalStack) -> None:
    stack.start_redis()
    settings = Settings(redis_url=str(stack.redis_url))
    dispatcher = Dispatcher(create_celery_client(settings), None, settings, Metrics())  # type: ignore[arg-type]
    jobs = [task_job("0" * 32, [[5.1, 3.5, 1.4, 0.2]])]
    try:
        dispatcher._publish("1" * 32, jobs)
    finally:
        dispatcher.close()
    with redis.Redis.from_url(str(stack.redis_url)) as client:
        raw = client.rpop("celery")
    assert raw is not None
    message = task_message(raw)
    assert message["content-type"] == TASK_CONTENT_TYPE
    # Published as it is: the rows in it are base64 already.
    assert message["properties"]["body_encoding"] is None
    assert task_jobs(raw) == jobs
    worker = create_celery_app(WorkerSettings(redis_url=str(stack.redis_url)))
    assert TASK_CONTENT_TYPE in worker.conf.accept_content
