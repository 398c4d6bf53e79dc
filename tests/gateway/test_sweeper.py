"""The job sweeper against a real redis-server: overdue jobs fail, expired records go."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from redis.asyncio import Redis

from contract.jobs import JOB_DEADLINES_KEY, JobField, JobStatus, job_key
from contract.messages import DONE_CHANNEL
from gateway.sweeper import JobSweeper, timeout_error
from scripts.stack import LocalStack

TTL = 100


def _job(status: JobStatus) -> dict[str, Any]:
    return {JobField.STATUS: status, JobField.CREATED_AT: 1.0, JobField.CACHED: "[null]"}


def test_overdue_open_jobs_fail_and_expired_records_are_deleted(stack: LocalStack) -> None:
    stack.start_redis()
    jobs = {
        "queued-overdue": (JobStatus.QUEUED, 50.0),
        "running-overdue": (JobStatus.RUNNING, 60.0),
        "queued-in-time": (JobStatus.QUEUED, 150.0),
        "done-expired": (JobStatus.DONE, 90.0),
        "failed-expired": (JobStatus.FAILED, 99.0),
        "done-kept": (JobStatus.DONE, 101.0),
    }

    async def run() -> tuple[tuple[int, int], tuple[int, int], dict[str, Any], Any, list[Any]]:
        redis = Redis.from_url(str(stack.redis_url))
        try:
            for job_id, (status, deadline) in jobs.items():
                await redis.hset(job_key(job_id), mapping=_job(status))
                await redis.zadd(JOB_DEADLINES_KEY, {job_id: deadline})
            # A deadline whose record is gone is only dropped from the index; so is one whose
            # key holds something else, which stays as it is.
            await redis.zadd(JOB_DEADLINES_KEY, {"vanished": 10.0, "not-a-job": 10.0})
            await redis.set(job_key("not-a-job"), "someone else's")
            sweeper = JobSweeper(redis, timeout_seconds=30, ttl_seconds=TTL, interval_seconds=1)
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(DONE_CHANNEL)
                await pubsub.get_message(timeout=1)  # the subscription's confirmation
                first = await sweeper.sweep(now=100.0)
                message = await pubsub.get_message(timeout=2)
            again = await sweeper.sweep(now=100.0)
            records = {job_id: await redis.hgetall(job_key(job_id)) for job_id in jobs}
            index = await redis.zrange(JOB_DEADLINES_KEY, 0, -1, withscores=True)
            assert await redis.get(job_key("not-a-job")) == b"someone else's"
            return first, again, records, message, index
        finally:
            await redis.aclose()

    first, again, records, message, index = asyncio.run(run())
    assert first == (2, 3)
    assert again == (0, 0), "a second pass at the same time acts on nothing"
    error = timeout_error(30)
    for job_id in ("queued-overdue", "running-overdue"):
        record = records[job_id]
        assert record[b"status"] == b"failed"
        assert record[b"error"].decode() == error
        assert float(record[b"finished_at"]) == 100.0
    assert records["queued-in-time"][b"status"] == b"queued"
    assert records["done-expired"] == {}
    assert records["failed-expired"] == {}
    assert records["done-kept"][b"status"] == b"done"
    # The jobs this sweep failed live JOB_TTL from their failure; the others keep their deadlines.
    assert dict((k.decode(), v) for k, v in index) == {
        "queued-overdue": 100.0 + TTL,
        "running-overdue": 100.0 + TTL,
        "queued-in-time": 150.0,
        "done-kept": 101.0,
    }
    assert message is not None
    # The sweeper's outcome has no task behind it: its task id is null.
    assert orjson.loads(message["data"]) == {
        "task_id": None,
        "jobs": {
            "queued-overdue": {"status": "failed", "error": error},
            "running-overdue": {"status": "failed", "error": error},
        },
    }


def test_sweeps_past_one_batch_handle_every_due_job(stack: LocalStack) -> None:
    stack.start_redis()

    async def run() -> tuple[tuple[int, int], int]:
        redis = Redis.from_url(str(stack.redis_url))
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for i in range(1_234):
                    pipe.hset(job_key(f"j{i}"), mapping=_job(JobStatus.DONE))
                    pipe.zadd(JOB_DEADLINES_KEY, {f"j{i}": float(i)})
                await pipe.execute()
            sweeper = JobSweeper(redis, timeout_seconds=30, ttl_seconds=TTL, interval_seconds=1)
            swept = await sweeper.sweep(now=2_000.0)
            return swept, await redis.dbsize()
        finally:
            await redis.aclose()

    swept, keys_left = asyncio.run(run())
    assert swept == (0, 1_234)
    assert keys_left == 0
