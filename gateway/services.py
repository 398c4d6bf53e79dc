"""The long-lived objects of one gateway, made and closed by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from gateway.capacity import StoreCapacity
from gateway.dispatcher import Dispatcher, create_celery_client
from gateway.done_listener import DoneListener
from gateway.job_events import EventStreams
from gateway.jobs import JobStore
from gateway.lookup_or_open import LookupOrOpen
from gateway.metrics import Metrics
from gateway.model_info import ModelInfo
from gateway.settings import Settings
from gateway.sweeper import JobSweeper
from gateway.worker_check import WorkerCheck


@dataclass
class Services:
    settings: Settings
    metrics: Metrics
    redis: Redis
    celery: Celery
    lookups: LookupOrOpen
    jobs: JobStore
    model: ModelInfo
    dispatcher: Dispatcher
    listener: DoneListener
    events: EventStreams
    sweeper: JobSweeper
    capacity: StoreCapacity
    workers: WorkerCheck

    @classmethod
    def create(cls, settings: Settings, metrics: Metrics) -> Services:
        timeout = settings.redis_timeout_seconds
        pool = BlockingConnectionPool.from_url(
            settings.redis_dsn,
            max_connections=settings.redis_max_connections,
            # Waiting for a free connection is bounded too; past it the request gets a 503.
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One quick retry rides out a dropped connection; an outage fails fast.
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), retries=1),
        )
        redis = Redis(connection_pool=pool)
        celery = create_celery_client(settings)
        model = ModelInfo(redis, settings.model_refresh_seconds)
        dispatcher = Dispatcher(celery, redis, settings, metrics)
        jobs = JobStore(redis, metrics, settings.answered_record_seconds)
        listener = DoneListener(
            redis, dispatcher, model, jobs, metrics, settings.job_timeout_seconds
        )
        sweeper = JobSweeper(
            redis,
            settings.job_timeout_seconds,
            settings.job_ttl_seconds,
            settings.sweep_interval_seconds,
            metrics,
        )
        return cls(
            settings=settings,
            metrics=metrics,
            redis=redis,
            celery=celery,
            lookups=LookupOrOpen(redis, settings.job_timeout_seconds, model),
            jobs=jobs,
            model=model,
            dispatcher=dispatcher,
            listener=listener,
            events=EventStreams(listener, jobs, settings, metrics),
            sweeper=sweeper,
            capacity=StoreCapacity(
                redis,
                settings.store_high_water,
                settings.records_memory_share,
                settings.sweep_interval_seconds,
                metrics,
                sweeper,
            ),
            workers=WorkerCheck(celery, settings.ready_cache_seconds),
        )

    async def close(self) -> None:
        await self.jobs.close()
        self.dispatcher.close()
        self.celery.close()
        await self.redis.aclose()
        await self.redis.connection_pool.disconnect()


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
