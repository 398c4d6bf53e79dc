"""How both services talk to the broker: kombu's Redis transport and an orjson task body.

Both sides reach the broker through this transport (Celery's `broker_transport`). Stock
kombu builds a new `redis.Redis` for every synchronous write: each publish, each task event,
the unacknowledged bookkeeping and the ack. A client only wraps the pool, yet building one
fills a 169-entry callback table: py-spy put a fifth of a worker's main process there
(docs/performance.md). A client is safe to share between threads (the pool hands out
connections), so one is kept; a new pool (kombu makes one after a reconnect) gets a new client.
"""

from __future__ import annotations

from typing import Any

import orjson
from kombu.serialization import registry
from kombu.transport import redis as kombu_redis

# The value for Celery's `broker_transport` setting: the URL stays redis://...
TRANSPORT = f"{__name__}:Transport"

# The predict task's body: kombu's json is the standard library's, whose float formatting was
# a tenth of the gateway's time on 100-item requests (py-spy, docs/performance.md). Everything
# else Celery sends (events, control messages) stays json.
TASK_SERIALIZER = "irisq-orjson"
TASK_CONTENT_TYPE = "application/x-irisq-orjson"


def register_task_serializer() -> None:
    """Make TASK_SERIALIZER known to kombu (idempotent); both apps call it when built."""
    registry.register(  # type: ignore[no-untyped-call]
        TASK_SERIALIZER,
        orjson.dumps,
        orjson.loads,
        content_type=TASK_CONTENT_TYPE,
        content_encoding="binary",
    )


class Channel(kombu_redis.Channel):
    _sync_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        pool = self.pool
        client = self._sync_client
        if client is None or client.connection_pool is not pool:
            client = self._sync_client = super()._create_client()  # type: ignore[no-untyped-call]
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
