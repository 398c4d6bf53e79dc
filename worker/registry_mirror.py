"""A worker's main process keeps the registry's mirror in Redis (contract/rollout.py).

Every few seconds (Celery's heartbeat) it publishes the served record's rollout, which only
a newer generation replaces, so a promotion whose command could not reach Redis still takes
effect, and a Redis that restarted empty is filled again. Every ANNOUNCE_EVERY_SECONDS it
also announces the served version's metadata (the gateways' readiness needs it), publishes
the registry's versions for `GET /models`, and removes the reports of pool processes gone
long ago.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import redis

from contract import lua_scripts
from contract.lua_scripts import Script
from contract.model import MODEL_KEY, MODEL_TTL_SECONDS
from contract.rollout import ANSWERING_KEY, REGISTRY_KEY, forgotten
from worker.model import ModelIntegrityError, read_metadata
from worker.registry import read_rollout, registry_view, version_path

log = logging.getLogger("irisq.worker")

ANNOUNCE_EVERY_SECONDS = 10.0


class RegistryMirror:
    def __init__(self, model_dir: Path, client: redis.Redis) -> None:
        self.model_dir = model_dir
        self.client = client
        self.publish = client.register_script(lua_scripts.source(Script.PUBLISH_ROLLOUT))
        self.last_announced = 0.0

    def sync(self, force: bool = False) -> None:
        """Publish the rollout; the rest when it is due or `force`. Never raises: a worker
        keeps working when Redis or the registry cannot be read for a moment."""
        try:
            rollout = read_rollout(self.model_dir)
            keys, args = lua_scripts.publish_rollout(rollout)
            if lua_scripts.published(self.publish(keys=keys, args=args)):
                log.info("published the rollout: %s", rollout.model_dump_json())
                force = True
            now = time.monotonic()
            if not force and now - self.last_announced < ANNOUNCE_EVERY_SECONDS:
                return
            metadata = read_metadata(version_path(self.model_dir, rollout.served))
            view = registry_view(self.model_dir)
            reports = self.client.hgetall(ANSWERING_KEY)
            with self.client.pipeline(transaction=False) as pipe:
                pipe.set(MODEL_KEY, metadata.model_dump_json(), ex=MODEL_TTL_SECONDS)
                pipe.set(REGISTRY_KEY, view.model_dump_json())
                if old := forgotten(reports, time.time()):
                    pipe.hdel(ANSWERING_KEY, *old)
                pipe.execute()
            self.last_announced = now
        except (redis.RedisError, ModelIntegrityError) as exc:
            log.warning("could not publish the registry: %s", exc)
