"""The broker transport both services use: stock kombu Redis, one client per pool."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kombu import Connection, Exchange, Queue

from contract.broker import TRANSPORT, Transport
from gateway.dispatcher import create_celery_client
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
