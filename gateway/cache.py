"""The prediction cache: one MGET answers every item of a request."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from contract import cache_key


class PredictionCache:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def lookup(
        self, items: Sequence[Sequence[float]], model_version: str | None
    ) -> list[bytes | None]:
        """Each item's cached result (JSON bytes) or None; all misses if no model is known."""
        if model_version is None:
            return [None] * len(items)
        keys = [cache_key(values, model_version) for values in items]
        found = await self.redis.mget(keys)
        return [v.encode() if isinstance(v, str) else v for v in found]
