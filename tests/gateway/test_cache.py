"""The one-round-trip lookup against a real redis-server."""

from __future__ import annotations

import asyncio

import orjson
from redis.asyncio import Redis

from contract import JobField, cache_key, canonical_rows, canonical_values, job_key
from gateway.cache import PredictionCache
from scripts.stack import LocalStack


def _lookup(url: str, items: list[list[float]], job_id: str) -> tuple[list[bytes | None], dict]:
    async def run() -> tuple[list[bytes | None], dict]:
        redis = Redis.from_url(url)
        try:
            cache = PredictionCache(redis, job_ttl_seconds=60)
            _, suffixes = canonical_rows(items)
            found = await cache.lookup_or_open_job(suffixes, "v1", job_key(job_id), 12.5)
            record = await redis.hgetall(job_key(job_id))
            ttl = await redis.ttl(job_key(job_id))
            return found, {"record": record, "ttl": ttl}
        finally:
            await redis.aclose()

    return asyncio.run(run())


def test_lookup_opens_a_job_only_for_misses_even_past_lua_unpack_limits(stack: LocalStack) -> None:
    stack.start_redis()
    items = [canonical_values([1 + i / 10_000, 2.0, 3.0, 4.0]) for i in range(9_000)]
    hits = {0, 4_321, 8_999}

    async def seed() -> None:
        redis = Redis.from_url(str(stack.redis_url))
        for i in hits:
            await redis.set(cache_key(items[i], "v1"), orjson.dumps({"n": i}))
        await redis.aclose()

    asyncio.run(seed())
    found, job = _lookup(str(stack.redis_url), items, "a" * 32)
    assert [i for i, v in enumerate(found) if v is not None] == sorted(hits)
    assert orjson.loads(found[4_321] or b"") == {"n": 4_321}
    record = {k.decode(): v for k, v in job["record"].items()}
    assert record[JobField.STATUS] == b"queued"
    assert float(record[JobField.CREATED_AT]) == 12.5
    cached = orjson.loads(record[JobField.CACHED])
    assert len(cached) == 9_000
    assert cached[8_999] == {"n": 8_999}
    assert cached[1] is None
    assert 0 < job["ttl"] <= 60

    all_cached, none = _lookup(str(stack.redis_url), [items[i] for i in sorted(hits)], "b" * 32)
    assert all(v is not None for v in all_cached)
    assert none["record"] == {}
