"""Gateway settings, read once from the environment and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from contract.settings import SharedSettings


class Settings(SharedSettings):
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # The Open Inference Protocol over gRPC (gateway/grpc_face.py), on a port of its own:
    # 8001, as Triton's. 0 turns the gRPC face off. A port it cannot listen on stops the
    # gateway's start, as the HTTP port does.
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=8001, ge=0, le=65535)
    # Several gateway processes on one host share the API and gRPC ports (SO_REUSEPORT): the
    # kernel spreads new connections among them (`make run GATEWAYS=N`). Off, a port another
    # process holds stops the start, so a forgotten gateway never takes half the traffic.
    reuse_port: bool = False
    # Where the processes sharing a port keep their Prometheus metric files, so that /metrics,
    # whichever process answers it, sums them all. prometheus_client reads the variable itself
    # when it is imported; unset, each process counts in memory (one target per replica).
    prometheus_multiproc_dir: Path | None = None
    # Comma-separated origins allowed by CORS; empty allows none.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:5174"]
    )
    redis_max_connections: int = 64
    predict_wait_seconds: float = Field(default=10.0, ge=0, le=60)
    max_items: int = Field(default=1000, ge=1)
    # Requests of at most this many items are answered from the cache and fill it; larger
    # ones (bulk scoring, whose rows rarely repeat) skip both: looking up and writing an
    # entry per item would cost more than predicting it.
    cache_max_items: int = Field(default=10, ge=0)
    # Request bodies above this are refused before they are read whole (~120 bytes an item).
    max_body_bytes: int = Field(default=512 * 1024, ge=1024)
    # Client connections served at once; past it a request gets uvicorn's 503. uvicorn has no
    # timeout for slow headers, so idle and slow connections count too: this keeps them below
    # the descriptor limit (1024 in many containers, with Redis' pool beside them).
    max_connections: int = Field(default=800, ge=1)
    # Job event streams (GET /jobs/{id}/events) open at once; past it a 503. Each holds a
    # connection for its job's life, so at most half of MAX_CONNECTIONS is used whatever this
    # says: the rest stays for /predict.
    max_event_streams: int = Field(default=400, ge=0)
    # A comment this often keeps an idle event stream open through proxies (nginx closes a
    # connection silent for its proxy_read_timeout).
    event_keepalive_seconds: float = Field(default=15.0, gt=0)
    # The bound on an open job: one still queued or running this long after it was created is
    # failed by the sweeper ("timed out"), whatever happened to its task.
    job_timeout_seconds: float = Field(default=600.0, gt=0)
    # How long a job handed back as 202 (async, or past its sync wait) stays readable after it
    # finished, at most: the records of jobs answered inside their sync request go at once,
    # and under memory pressure the oldest finished records go first (RECORDS_MEMORY_SHARE).
    job_ttl_seconds: int = Field(default=86400, gt=0)
    # How long, at most, the record of a job answered inside its sync request outlives the
    # answer: the deletions of this span travel together. Redis holds this many seconds of
    # such records.
    answered_record_seconds: float = Field(default=0.05, ge=0, le=3600)
    # Finished job records may hold at most this share of Redis' maxmemory (less what open
    # work needs); past it the sweeper trims the oldest, and reading one answers 410 Gone.
    records_memory_share: float = Field(default=0.5, gt=0, le=1)
    # How often the sweeper looks for overdue, expired and surplus records and reads Redis'
    # memory.
    sweep_interval_seconds: float = Field(default=1.0, gt=0)
    # Requests that need a new job are refused (503) while open work (queued and running jobs
    # and their tasks) alone holds this share of Redis' maxmemory: the rest is left for the
    # accepted jobs to finish (gateway/capacity.py). Cache hits and job reads are answered.
    store_high_water: float = Field(default=0.8, gt=0, le=1)
    # Coalescing: misses from concurrent requests travel to the workers as one task.
    coalesce_max_items: int = Field(default=2000, ge=1)
    coalesce_max_wait_ms: float = Field(default=5.0, ge=0)
    # Unfinished tasks, at most. Only a safety bound: the dispatcher holds jobs back while a
    # sent task waits for a worker, so at most one waits queued and the workers set the pace
    # however many there are (a bound of workers + 1 left a fourth worker unfed).
    max_tasks_in_flight: int = Field(default=64, ge=1)
    # A task taken off the queue (a worker popped it) whose outcome has not arrived this long
    # after is sent again: its worker died with it (gateway/dispatcher.py). Far above a task's
    # run time (milliseconds); a task sent twice skips the jobs already finished.
    task_redelivery_seconds: float = Field(default=3.0, gt=0)
    model_refresh_seconds: float = 5.0
    # /ready's worker check is a broadcast that every worker answers: its answer is reused
    # this long, so however often /ready is called, the workers get one ping per period.
    ready_cache_seconds: float = Field(default=2.0, ge=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value
