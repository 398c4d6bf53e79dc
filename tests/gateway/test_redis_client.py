"""The gateway's Redis connections pack with hiredis: the same bytes, against a real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection

from gateway.metrics import Metrics
from gateway.redis_client import HiredisPacking, with_hiredis_packing
from gateway.services import Services
from gateway.settings import Settings
from scripts.stack import LocalStack

COMMANDS: list[tuple[Any, ...]] = [
    ("EVALSHA", "a" * 40, 2, "irisq:pred:rf-1:5.1|3.5|1.4|0.2", "irisq:job:x", b"86400", b"1.5"),
    ("SET", "k", 1764638400.123456, "EX", 3600),
    ("SCRIPT LOAD", "return 1"),
    ("SET", "ключ", memoryview(b"value")),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_hiredis_packing_writes_the_bytes_redis_py_writes(command: tuple[Any, ...]) -> None:
    stock = Connection()
    tuned = with_hiredis_packing(Connection)()
    assert b"".join(tuned.pack_command(*command)) == b"".join(stock.pack_command(*command))


@pytest.mark.parametrize("cls", [Connection, SSLConnection, UnixDomainSocketConnection])
def test_the_connection_kind_from_the_url_is_kept(cls: type[Connection]) -> None:
    tuned = with_hiredis_packing(cls)
    assert issubclass(tuned, cls)
    assert issubclass(tuned, HiredisPacking)


def test_the_gateway_pool_packs_with_hiredis_and_talks_to_redis(stack: LocalStack) -> None:
    stack.start_redis()
    services = Services.create(Settings(redis_url=str(stack.redis_url)), Metrics())
    assert issubclass(services.redis.connection_pool.connection_class, HiredisPacking)

    async def run() -> list[Any]:
        try:
            redis = services.redis
            await redis.set("irisq:test", b"v", ex=60)
            async with redis.pipeline(transaction=False) as pipe:
                pipe.get("irisq:test").eval("return ARGV[1]", 0, 2.5).ttl("irisq:test")
                return await pipe.execute()  # type: ignore[no-any-return]
        finally:
            await services.close()

    value, evaluated, ttl = asyncio.run(run())
    assert (value, evaluated) == (b"v", b"2.5")
    assert 0 < ttl <= 60
