"""The job sweeper against a real redis-server: overdue jobs fail, expired records go."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from redis.asyncio import Redis

from contract.jobs import (
    FINISHED_BYTES_KEY,
    FINISHED_JOBS_KEY,
    OPEN_JOBS_KEY,
    JobField,
    JobStatus,
    job_key,
)
from contract.messages import DONE_CHANNEL
from gateway.metrics import Metrics
from gateway.sweeper import JobSweeper, timeout_error
from scripts.stack import LocalStack

TTL = 100
NOW = 1000.0


def _job(status: JobStatus) -> dict[str, Any]:
    return {JobField.STATUS: status, JobField.CREATED_AT: 1.0, JobField.CACHED: "[null]"}


def test_overdue_open_jobs_fail_and_expired_records_are_deleted(stack: LocalStack) -> None:
    stack.start_redis()
    # Open jobs with their deadline; finished ones with their finish time (now is 1000, so
    # those finished by 900 are past TTL).
    jobs = {
        "queued-overdue": (JobStatus.QUEUED, 50.0),
        "running-overdue": (JobStatus.RUNNING, 60.0),
        "queued-in-time": (JobStatus.QUEUED, 1150.0),
        "done-expired": (JobStatus.DONE, 890.0),
        "failed-expired": (JobStatus.FAILED, 900.0),
        "done-kept": (JobStatus.DONE, 901.0),
    }

    async def run() -> tuple[tuple[int, int], tuple[int, int], dict[str, Any], Any, list[Any]]:
        redis = Redis.from_url(str(stack.redis_url))
        try:
            for job_id, (status, score) in jobs.items():
                await redis.hset(job_key(job_id), mapping=_job(status))
                is_open = status in (JobStatus.QUEUED, JobStatus.RUNNING)
                await redis.zadd(OPEN_JOBS_KEY if is_open else FINISHED_JOBS_KEY, {job_id: score})
            # A deadline whose record is gone is only dropped from the index; so is one whose
            # key holds something else, which stays as it is.
            await redis.zadd(OPEN_JOBS_KEY, {"vanished": 10.0, "not-a-job": 10.0})
            await redis.set(job_key("not-a-job"), "someone else's")
            sweeper = JobSweeper(redis, 30, TTL, 1, Metrics())
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(DONE_CHANNEL)
                await pubsub.get_message(timeout=1)  # the subscription's confirmation
                first = await sweeper.sweep(now=NOW)
                message = await pubsub.get_message(timeout=2)
            again = await sweeper.sweep(now=NOW)
            records = {job_id: await redis.hgetall(job_key(job_id)) for job_id in jobs}
            index = [
                await redis.zrange(name, 0, -1, withscores=True)
                for name in (OPEN_JOBS_KEY, FINISHED_JOBS_KEY)
            ]
            assert await redis.get(job_key("not-a-job")) == b"someone else's"
            return first, again, records, message, index
        finally:
            await redis.aclose()

    first, again, records, message, index = asyncio.run(run())
    assert first == (2, 2)
    assert again == (0, 0), "a second pass at the same time acts on nothing"
    error = timeout_error(30)
    for job_id in ("queued-overdue", "running-overdue"):
        record = records[job_id]
        assert record[b"status"] == b"failed"
        assert record[b"error"].decode() == error
        assert float(record[b"finished_at"]) == NOW
    assert records["queued-in-time"][b"status"] == b"queued"
    assert records["done-expired"] == {}
    assert records["failed-expired"] == {}
    assert records["done-kept"][b"status"] == b"done"
    # The jobs this sweep failed are finished now; the others keep their places.
    open_index, finished_index = ({k.decode(): v for k, v in part} for part in index)
    assert open_index == {"queued-in-time": 1150.0}
    assert finished_index == {"queued-overdue": NOW, "running-overdue": NOW, "done-kept": 901.0}
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

    async def run() -> tuple[tuple[int, int], list[bytes]]:
        redis = Redis.from_url(str(stack.redis_url))
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for i in range(1_234):
                    pipe.hset(job_key(f"j{i}"), mapping=_job(JobStatus.DONE))
                    pipe.zadd(FINISHED_JOBS_KEY, {f"j{i}": float(i)})
                await pipe.execute()
            sweeper = JobSweeper(redis, 30, TTL, 1, Metrics())
            swept = await sweeper.sweep(now=2_000.0)
            return swept, await redis.keys()
        finally:
            await redis.aclose()

    swept, keys_left = asyncio.run(run())
    assert swept == (0, 1_234)
    # Only the finished records' byte count is left, at zero.
    assert keys_left == [FINISHED_BYTES_KEY.encode()]
