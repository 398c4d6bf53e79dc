"""kombu's Redis transport, with one redis-py client per connection pool instead of per write.

Both sides reach the broker through it (Celery's `broker_transport`). Stock kombu builds a new
`redis.Redis` for every synchronous write: each publish, each task event, the unacknowledged
bookkeeping and the ack. A client only wraps the pool, yet building one fills a 169-entry
callback table: py-spy put a fifth of a worker's main process there (docs/performance.md).
A client is safe to share between threads (the pool hands out connections), so one is kept;
a new pool (kombu makes one after a reconnect) gets a new client.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis

# The value for Celery's `broker_transport` setting: the URL stays redis://...
TRANSPORT = f"{__name__}:Transport"


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
