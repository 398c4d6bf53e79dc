"""What the gateway knows of the model: the metadata the workers announce in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from contract.model import MODEL_KEY, ModelMetadata

log = logging.getLogger("irisq.gateway")


class ModelInfo:
    def __init__(self, redis: Redis, refresh_seconds: float) -> None:
        self.redis = redis
        self.refresh_seconds = refresh_seconds
        self.metadata: ModelMetadata | None = None
        self._refresh_now = asyncio.Event()

    @property
    def version(self) -> str | None:
        return self.metadata.version if self.metadata else None

    async def fetch(self) -> ModelMetadata | None:
        """The metadata a live worker announced (None if none did lately)."""
        raw = await self.redis.get(MODEL_KEY)
        if raw is None:
            return None
        try:
            metadata = ModelMetadata.model_validate_json(raw)
        except ValidationError:
            log.warning("ignoring malformed model metadata in %s", MODEL_KEY)
            return None
        if self.version != metadata.version:
            log.info("model version=%s", metadata.version)
        self.metadata = metadata
        return metadata

    def observe(self, version: str) -> None:
        """A worker answered with this version: fetch its metadata now if it is new to us."""
        if version != self.version:
            self._refresh_now.set()

    async def run(self) -> None:
        """Keep the last known metadata fresh; a worker announces it every few seconds."""
        while True:
            try:
                await self.fetch()
            except RedisError as exc:
                log.debug("model refresh failed: %s", exc)
            self._refresh_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh_now.wait(), self.refresh_seconds)
