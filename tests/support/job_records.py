"""Job records as the gateway writes them, for tests that send tasks to a worker directly."""

from __future__ import annotations

import time
import uuid

import redis

from contract.jobs import JobField, JobStatus, job_key


def queued_job(client: redis.Redis) -> str:
    """A new job's record, queued, with no TTL (contract.jobs.OPEN_JOBS_KEY); its id."""
    job_id = uuid.uuid4().hex
    client.hset(
        job_key(job_id),
        mapping={JobField.STATUS: JobStatus.QUEUED, JobField.CREATED_AT: time.time()},
    )
    return job_id
