"""Job records in Redis: written by the gateway when a job starts, completed by a worker."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis

from contract import JOB_DEADLINES_KEY, JobField, JobStatus, JobView, job_key

# Our ids are 32 lower-case hex digits; anything else is not ours and never reaches Redis.
# Matched whole (`fullmatch`): `$` would also accept a trailing newline.
JOB_ID = re.compile(r"[0-9a-f]{32}")


def merge_items(cached: Sequence[Any], results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Request-order items: cached entries where present, the worker's results elsewhere."""
    fresh = iter(results)
    merged = []
    for entry in cached:
        if entry is None:
            merged.append({**next(fresh), "cached": False})
        else:
            item = orjson.loads(entry) if isinstance(entry, bytes | str) else entry
            merged.append({**item, "cached": True})
    return merged


def cached_json(cached: Sequence[bytes | None]) -> bytes:
    """The cached entries as one JSON list, reusing the stored bytes as they are."""
    return b"[" + b",".join(entry if entry is not None else b"null" for entry in cached) + b"]"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class JobStore:
    def __init__(self, redis: Redis, timeout_seconds: float) -> None:
        self.redis = redis
        self.timeout = timeout_seconds

    async def create(self, job_id: str, cached: Sequence[bytes | None], created_at: float) -> None:
        key = job_key(job_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(
                key,
                mapping={
                    JobField.STATUS: JobStatus.QUEUED,
                    JobField.CREATED_AT: created_at,
                    JobField.CACHED: cached_json(cached),
                },
            )
            # No TTL on the record: its deadline is in the index (contract: JOB_DEADLINES_KEY).
            pipe.zadd(JOB_DEADLINES_KEY, {job_id: created_at + self.timeout})
            await pipe.execute()

    async def get(self, job_id: str) -> JobView | None:
        if not JOB_ID.fullmatch(job_id):
            return None
        raw = await self.redis.hgetall(job_key(job_id))
        fields: dict[str, bytes] = {_text(k): _bytes(v) for k, v in raw.items()}
        if JobField.CREATED_AT not in fields:
            return None
        status = JobStatus(fields[JobField.STATUS].decode())
        items = None
        if status is JobStatus.DONE and JobField.RESULTS in fields:
            cached = orjson.loads(fields[JobField.CACHED])
            items = merge_items(cached, orjson.loads(fields[JobField.RESULTS]))

        def number(name: JobField) -> float | None:
            value = fields.get(name)
            return float(value) if value is not None else None

        return JobView.model_validate(
            {
                "job_id": job_id,
                "status": status,
                "created_at": float(fields[JobField.CREATED_AT]),
                "started_at": number(JobField.STARTED_AT),
                "finished_at": number(JobField.FINISHED_AT),
                "model_version": (
                    fields[JobField.MODEL_VERSION].decode()
                    if JobField.MODEL_VERSION in fields
                    else None
                ),
                "items": items,
                "error": fields[JobField.ERROR].decode() if JobField.ERROR in fields else None,
            }
        )
