"""The one-round-trip lookup against a real redis-server."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from redis.asyncio import Redis

from contract.cache_keys import cache_key, canonical_values, key_suffix
from contract.jobs import OPEN_JOBS_KEY, JobField, job_key
from contract.lua_scripts import Lookup
from contract.rollout import ROLLOUT_KEY, Rollout
from gateway.lookup_or_open import LookupOrOpen
from gateway.model_info import ModelInfo
from scripts.stack import LocalStack


async def _serving(redis: Redis, version: str | None = "v1") -> LookupOrOpen:
    """Lookups against a Redis whose rollout serves `version` (None: none published)."""
    if version is not None:
        await redis.hset(ROLLOUT_KEY, mapping=Rollout(served=version, generation=1).fields())
    model = ModelInfo(redis, refresh_seconds=60)
    model.serve(version)
    return LookupOrOpen(redis, job_timeout_seconds=60, model=model)


def _lookup(url: str, items: list[list[float]], job_id: str) -> tuple[list[bytes | None], dict]:
    async def run() -> tuple[list[bytes | None], dict]:
        redis = Redis.from_url(url)
        try:
            cache = await _serving(redis)
            suffixes = [key_suffix(item) for item in items]
            found, _ = await cache.lookup_or_open(Lookup(len(suffixes), suffixes, job_id, 12.5))
            record = await redis.hgetall(job_key(job_id))
            ttl = await redis.ttl(job_key(job_id))
            deadline = await redis.zscore(OPEN_JOBS_KEY, job_id)
            return found, {"record": record, "ttl": ttl, "deadline": deadline}
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
    # No TTL, so volatile-lru never evicts the record: its deadline is in the index.
    assert job["ttl"] == -1
    assert job["deadline"] == 12.5 + 60

    all_cached, none = _lookup(str(stack.redis_url), [items[i] for i in sorted(hits)], "b" * 32)
    assert all(v is not None for v in all_cached)
    assert none["record"] == {}
    assert none["deadline"] is None


def test_concurrent_lookups_travel_as_one_command_and_keep_their_own_answers(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    rows = [canonical_values([5 + i / 10_000, 3.0, 1.0, 0.5]) for i in range(5)]

    async def run() -> tuple[list[list[bytes | None]], list[dict], int]:
        redis = Redis.from_url(str(stack.redis_url))
        try:
            await redis.set(cache_key(rows[0], "v1"), b'{"n":0}')
            await redis.set(cache_key(rows[3], "v1"), b'{"n":3}')
            cache = await _serving(redis)
            # The first call loads the script; count from after it.
            await cache.lookup_or_open(Lookup(1, [key_suffix(rows[0])], "0" * 32, 0))
            await redis.config_resetstat()
            lookups = [[rows[0]], [rows[1], rows[0], rows[2]], [rows[3]], [rows[4]]]
            found = await asyncio.gather(
                *(
                    cache.lookup_or_open(
                        Lookup(len(items), [key_suffix(r) for r in items], f"{i:032x}", i)
                    )
                    for i, items in enumerate(lookups)
                )
            )
            calls = (await redis.info("commandstats"))["cmdstat_evalsha"]["calls"]
            records = [await redis.hgetall(job_key(f"{i:032x}")) for i in range(len(lookups))]
            return found, records, calls
        finally:
            await redis.aclose()

    found, records, calls = asyncio.run(run())
    assert calls == 1, "four concurrent lookups took more than one command"
    assert [version for _, version in found] == ["v1"] * 4
    assert [entries for entries, _ in found] == [
        [b'{"n":0}'],
        [None, b'{"n":0}', None],
        [b'{"n":3}'],
        [None],
    ]
    # A job is opened for the lookups with a miss, each with its own cached entries.
    assert [bool(r) for r in records] == [False, True, False, True]
    assert orjson.loads(records[1][b"cached"]) == [None, {"n": 0}, None]
    # A job with cached entries names their version; one without has none to name.
    assert records[1][JobField.CACHED_VERSION.encode()] == b"v1"
    assert JobField.CACHED_VERSION.encode() not in records[3]
    assert float(records[3][b"created_at"]) == 3


@pytest.mark.parametrize("lookup", ["no model version", "no key suffixes"])
def test_without_a_model_version_or_key_suffixes_every_item_is_a_miss_and_nothing_is_looked_up(
    stack: LocalStack, lookup: str
) -> None:
    stack.start_redis()
    rows = [canonical_values([5.1, 3.5, 1.4, 0.2]), canonical_values([6.1, 2.8, 4.7, 1.2])]

    async def run() -> tuple[list[bytes | None], dict, int]:
        redis = Redis.from_url(str(stack.redis_url))
        try:
            await redis.set(cache_key(rows[0], "v1"), b'{"n":0}')
            cache = await _serving(redis, None if lookup == "no model version" else "v1")
            await redis.config_resetstat()
            suffixes = [key_suffix(r) for r in rows]
            if lookup == "no model version":
                found, _ = await cache.lookup_or_open(Lookup(2, suffixes, "c" * 32, 7.0))
            else:
                found, _ = await cache.lookup_or_open(Lookup(2, None, "c" * 32, 7.0))
            mgets = (await redis.info("commandstats")).get("cmdstat_mget", {}).get("calls", 0)
            return found, await redis.hgetall(job_key("c" * 32)), mgets
        finally:
            await redis.aclose()

    found, record, mgets = asyncio.run(run())
    assert found == [None, None]
    assert mgets == 0
    assert record[b"status"] == b"queued"
    assert orjson.loads(record[b"cached"]) == [None, None]


@pytest.mark.parametrize("items", [1, 11, 1000])
def test_a_lookup_without_keys_is_answered_without_a_reply_an_item(
    stack: LocalStack, items: int
) -> None:
    """A large request's lookup reads no key: the reply lists none, the gateway counts every
    item a miss, and the record still holds one null an item."""
    stack.start_redis()

    async def run() -> tuple[list[bytes | None], dict]:
        redis = Redis.from_url(str(stack.redis_url))
        try:
            cache = await _serving(redis)
            found, _ = await cache.lookup_or_open(Lookup(items, None, "d" * 32, 7.0))
            return found, await redis.hgetall(job_key("d" * 32))
        finally:
            await redis.aclose()

    found, record = asyncio.run(run())
    assert found == [None] * items
    assert orjson.loads(record[b"cached"]) == [None] * items


def test_a_lookup_that_may_not_open_a_job_still_answers_its_hits_and_writes_nothing(
    stack: LocalStack,
) -> None:
    stack.start_redis()
    rows = [canonical_values([5.1, 3.5, 1.4, 0.2]), canonical_values([6.1, 2.8, 4.7, 1.2])]

    async def run() -> tuple[list[bytes | None], int, int]:
        redis = Redis.from_url(str(stack.redis_url))
        try:
            await redis.set(cache_key(rows[0], "v1"), b'{"n":0}')
            cache = await _serving(redis)
            suffixes = [key_suffix(r) for r in rows]
            found, _ = await cache.lookup_or_open(Lookup(2, suffixes, "d" * 32, 7.0, False))
            return found, await redis.exists(job_key("d" * 32)), await redis.zcard(OPEN_JOBS_KEY)
        finally:
            await redis.aclose()

    found, record_exists, open_jobs = asyncio.run(run())
    assert found == [b'{"n":0}', None]
    assert (record_exists, open_jobs) == (0, 0)


def test_a_lookup_under_a_version_no_longer_served_answers_under_the_served_one(
    stack: LocalStack,
) -> None:
    """Cache hits come only from the version served at the moment of the lookup."""
    stack.start_redis()
    row = canonical_values([5.1, 3.5, 1.4, 0.2])

    async def run() -> list[tuple[list[bytes | None], str | None]]:
        redis = Redis.from_url(str(stack.redis_url))
        try:
            await redis.set(cache_key(row, "v1"), b'{"n":1}')
            await redis.set(cache_key(row, "v2"), b'{"n":2}')
            cache = await _serving(redis, "v1")
            answers = [await cache.lookup_or_open(Lookup(1, [key_suffix(row)], "e" * 32, 1.0))]
            # A promotion: the gateway still believes v1 is served.
            await redis.hset(ROLLOUT_KEY, mapping=Rollout(served="v2", generation=2).fields())
            answers.append(await cache.lookup_or_open(Lookup(1, [key_suffix(row)], "f" * 32, 2.0)))
            # The rollout is gone (a Redis restarted empty): no cache until it is back.
            await redis.delete(ROLLOUT_KEY)
            answers.append(await cache.lookup_or_open(Lookup(1, [key_suffix(row)], "a" * 32, 3.0)))
            return answers
        finally:
            await redis.aclose()

    answers = asyncio.run(run())
    assert answers == [([b'{"n":1}'], "v1"), ([b'{"n":2}'], "v2"), ([None], None)]
