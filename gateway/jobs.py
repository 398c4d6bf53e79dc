"""Reading job records: `GET /jobs/{id}` and a waiting request's last look."""

from __future__ import annotations

from redis.asyncio import Redis

from contract.http import JobView
from contract.jobs import is_job_id, job_key


class JobStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def get(self, job_id: str) -> JobView | None:
        # An id that is not ours never reaches Redis.
        if not is_job_id(job_id):
            return None
        return JobView.from_record(job_id, await self.redis.hgetall(job_key(job_id)))
