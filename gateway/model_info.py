"""What the gateway knows of the model: the rollout and the metadata the workers publish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from contract.model import MODEL_KEY, ModelMetadata
from contract.rollout import (
    ANSWERING_KEY,
    REGISTRY_KEY,
    ROLLOUT_KEY,
    CanaryView,
    ProcessReport,
    RegistryView,
    Rollout,
    ServedModel,
    live_reports,
)

log = logging.getLogger("irisq.gateway")


class ModelInfo:
    def __init__(self, redis: Redis, refresh_seconds: float) -> None:
        self.redis = redis
        self.refresh_seconds = refresh_seconds
        self.metadata: ModelMetadata | None = None
        self.rollout: Rollout | None = None
        self._refresh_now = asyncio.Event()

    @property
    def version(self) -> str | None:
        """The served version: the one cache lookups use (None: no worker published one)."""
        return self.rollout.served if self.rollout else None

    def serve(self, version: str | None) -> None:
        """The lookup script found another served version: use it now, and fetch the rest."""
        if version is None:
            self.rollout = None
        elif self.rollout is None or self.rollout.served != version:
            self.rollout = Rollout(served=version, generation=-1)
        self._refresh_now.set()

    async def fetch(self) -> ModelMetadata | None:
        """The metadata a live worker announced (None if none did lately)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(MODEL_KEY)
            pipe.hgetall(ROLLOUT_KEY)
            raw, rollout = await pipe.execute()
        self._follow(Rollout.from_fields(rollout))
        if raw is None:
            return None
        try:
            metadata = ModelMetadata.model_validate_json(raw)
        except ValidationError:
            log.warning("ignoring malformed model metadata in %s", MODEL_KEY)
            return None
        self.metadata = metadata
        return metadata

    def _follow(self, rollout: Rollout | None) -> None:
        if rollout is not None and rollout != self.rollout:
            log.info(
                "model served=%s canary=%s (%d%%) generation=%d",
                rollout.served,
                rollout.canary,
                rollout.canary_percent,
                rollout.generation,
            )
        self.rollout = rollout

    def observe(self, version: str) -> None:
        """A worker answered with this version: fetch the rollout now if it is new to us."""
        if self.rollout is None or version not in self.rollout.versions():
            self._refresh_now.set()

    async def reports(self) -> list[ProcessReport]:
        """The worker pool processes' live reports of the versions they answer with."""
        return live_reports(await self.redis.hgetall(ANSWERING_KEY), time.time())

    async def served_model(self) -> ServedModel | None:
        """`GET /model`: the served version's metadata, the canary, every version answering."""
        metadata = await self.fetch()
        rollout = self.rollout
        registry = await self.registry()
        if rollout is not None and registry is not None:
            # The announcement may still carry the version served before a promotion.
            for entry in registry.versions:
                if entry.version == rollout.served and entry.metadata is not None:
                    metadata = entry.metadata
        if metadata is None:
            return None
        answering = sorted({v for report in await self.reports() for v in report.answering})
        canary = None
        if rollout is not None and rollout.canary is not None:
            canary = CanaryView(version=rollout.canary, percent=rollout.canary_percent)
        return ServedModel(**metadata.model_dump(), canary=canary, answering=answering)

    async def registry(self) -> RegistryView | None:
        """`GET /models`: the registry as the workers last published it."""
        raw = await self.redis.get(REGISTRY_KEY)
        if raw is None:
            return None
        try:
            return RegistryView.model_validate_json(raw)
        except ValidationError:
            log.warning("ignoring a malformed registry in %s", REGISTRY_KEY)
            return None

    async def run(self) -> None:
        """Keep the rollout and metadata fresh; a worker announces them every few seconds."""
        while True:
            try:
                await self.fetch()
            except RedisError as exc:
                log.debug("model refresh failed: %s", exc)
            self._refresh_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh_now.wait(), self.refresh_seconds)
