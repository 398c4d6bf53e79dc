"""How both services use the broker: stock kombu Redis, one client per pool, orjson bodies."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import orjson
import pytest
import redis
from kombu import Connection, Exchange, Queue

from contract import task_job
from contract.broker import TASK_CONTENT_TYPE, TRANSPORT, Transport
from gateway.dispatcher import Dispatcher, create_celery_client
from gateway.metrics import Metrics
from gateway.settings import Settings
from scripts.stack import LocalStack
from worker.celery_app import create_celery_app
from worker.settings import WorkerSettings


@pytest.fixture
def connection(stack: LocalStack) -> Iterator[Connection]:
    stack.start_redis()
    with Connection(str(stack.redis_url), transport=TRANSPORT) as conn:
        yield conn


def test_both_services_publish_through_the_transport(stack: LocalStack) -> None:
    gateway = create_celery_client(Settings(redis_url=str(stack.redis_url)))
    worker = create_celery_app(WorkerSettings(redis_url=str(stack.redis_url)))
    for app in (gateway, worker):
        with app.connection_for_write() as conn:
            assert isinstance(conn.transport, Transport)


def test_every_write_reuses_one_client_and_messages_still_flow(connection: Connection) -> None:
    channel = connection.default_channel
    first = channel._create_client()
    assert channel._create_client() is first
    queue = Queue("irisq-test", Exchange("irisq-test", type="direct"), routing_key="t")
    producer = connection.Producer(serializer="json")
    for n in range(5):
        producer.publish({"n": n}, exchange=queue.exchange, routing_key="t", declare=[queue])
    assert channel._create_client() is first
    received: list[int] = []
    with connection.Consumer(
        queue, callbacks=[lambda body, msg: (received.append(body["n"]), msg.ack())]
    ):
        while len(received) < 5:
            connection.drain_events(timeout=5)
    assert received == [0, 1, 2, 3, 4]


def test_a_new_pool_gets_a_new_client(connection: Connection) -> None:
    channel = connection.default_channel
    before = channel._create_client()
    channel._disconnect_pools()  # what kombu does when the connection is lost
    after = channel._create_client()
    assert after is not before
    assert after.connection_pool is channel.pool
    assert after.ping()


def test_the_dispatcher_publishes_an_orjson_body_the_worker_accepts(stack: LocalStack) -> None:
    stack.start_redis()
    settings = Settings(redis_url=str(stack.redis_url))
    dispatcher = Dispatcher(create_celery_client(settings), settings, Metrics())
    jobs = [task_job("0" * 32, [[5.1, 3.5, 1.4, 0.2]])]
    try:
        dispatcher._publish("1" * 32, jobs)
    finally:
        dispatcher.close()
    with redis.Redis.from_url(str(stack.redis_url)) as client:
        raw = client.rpop("celery")
    assert raw is not None
    message = json.loads(raw)
    assert message["content-type"] == TASK_CONTENT_TYPE
    args, _kwargs, _embed = orjson.loads(base64.b64decode(message["body"]))
    assert args == [jobs]
    worker = create_celery_app(WorkerSettings(redis_url=str(stack.redis_url)))
    assert TASK_CONTENT_TYPE in worker.conf.accept_content
