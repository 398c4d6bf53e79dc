"""The versions a worker pool process answers with, switched without a restart.

A thread in each pool process follows the rollout's mirror in Redis (contract/rollout.py):
it loads and verifies every version the rollout names, then swaps them in, all at once. A
task takes the versions in force when it starts, so it runs wholly on one version, and its
results, cache entries and done message carry that version.

A version this process cannot load is reported (a log line, a metric, the process's report,
which `/ready` and the promote command read), and the process keeps answering with the
version it had; it tries again after LOAD_RETRY_SECONDS.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from contract.rollout import (
    ANSWERING_KEY,
    REPORT_EVERY_SECONDS,
    ROLLOUT_KEY,
    ProcessReport,
    Rollout,
)
from worker import metrics
from worker.model import LoadedModel, load_model
from worker.registry import version_path

log = logging.getLogger("irisq.serving")

# How often the thread reads the rollout: a promotion reaches every process within this
# (plus the time it takes to load the version).
FOLLOW_EVERY_SECONDS = 0.2
LOAD_RETRY_SECONDS = 30.0


@dataclass(frozen=True, eq=False)
class Answering:
    """The versions in force: replaced whole, never changed, so a task reads one at once."""

    generation: int
    # Computed items go to this one: the served version, or the one this process keeps while
    # it cannot load the served one.
    served: LoadedModel
    canary: LoadedModel | None = None
    canary_share: float = 0.0

    def choose(self) -> LoadedModel:
        """The version for one task: the canary for its share of tasks, else the served one.

        Each task is drawn alone, so the canary computes its share of the items whatever the
        tasks' sizes.
        """
        if self.canary is not None and random.random() < self.canary_share:
            return self.canary
        return self.served

    def models(self) -> list[LoadedModel]:
        return [self.served] if self.canary is None else [self.served, self.canary]

    def versions(self) -> list[str]:
        return [model.metadata.version for model in self.models()]


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class ServingSet:
    model_dir: Path
    answering: Answering
    failed: dict[str, str] = field(default_factory=dict)
    retry_at: dict[str, float] = field(default_factory=dict)
    pid: int = field(default_factory=os.getpid)
    thread: threading.Thread | None = None

    @classmethod
    def serving(cls, model_dir: Path, model: LoadedModel) -> ServingSet:
        serving = cls(model_dir, Answering(generation=-1, served=model))
        metrics.record_answering(serving.answering.models(), [])
        return serving

    def choose(self) -> LoadedModel:
        return self.answering.choose()

    def follow(self, rollout: Rollout | None) -> bool:
        """Load what `rollout` names and swap it in; True when anything changed.

        No rollout published (a Redis that restarted empty): keep answering as now until a
        worker's main process publishes the registry's again.
        """
        current = self.answering
        if rollout is None or rollout.generation == current.generation:
            return False
        have = {model.metadata.version: model for model in current.models()}
        # A version the rollout no longer names is no longer this process's problem.
        for version in set(self.failed) - set(rollout.versions()):
            del self.failed[version]
            self.retry_at.pop(version, None)
        for version in rollout.versions():
            if version not in have and (loaded := self._load(version)) is not None:
                have[version] = loaded
        # While the served version will not load, the one this process had still answers.
        served = have.get(rollout.served, current.served)
        canary = have.get(rollout.canary) if rollout.canary is not None else None
        if canary is served:
            canary = None
        generation = rollout.generation if self._complete(rollout) else current.generation
        answering = Answering(generation, served, canary, rollout.canary_percent / 100)
        self.answering = answering
        if answering.versions() != current.versions():
            log.info(
                "answering with %s (was %s)",
                ", ".join(answering.versions()),
                ", ".join(current.versions()),
            )
            metrics.record_answering(answering.models(), current.models())
        return (answering.generation, answering.versions()) != (
            current.generation,
            current.versions(),
        )

    def _complete(self, rollout: Rollout) -> bool:
        """Whether every version of the rollout is in: until then, the next look tries again."""
        return all(version not in self.failed for version in rollout.versions())

    def _load(self, version: str) -> LoadedModel | None:
        now = time.monotonic()
        if version in self.failed and now < self.retry_at.get(version, 0.0):
            return None
        started = time.perf_counter()
        try:
            loaded = load_model(version_path(self.model_dir, version))
            if loaded.metadata.version != version:
                raise RuntimeError(f"its metadata names version {loaded.metadata.version}")
        except Exception as exc:
            reason = str(exc).replace("\n", " ") or type(exc).__name__
            log.error("cannot load model %s, answering with what it had: %s", version, reason)
            metrics.MODEL_LOAD_FAILURES.labels(version).inc()
            self.failed[version] = reason
            self.retry_at[version] = now + LOAD_RETRY_SECONDS
            return None
        self.failed.pop(version, None)
        self.retry_at.pop(version, None)
        log.info("loaded model %s in %.2f s", version, time.perf_counter() - started)
        return loaded

    def report(self) -> ProcessReport:
        return ProcessReport(
            process=process_name(),
            generation=self.answering.generation,
            answering=self.answering.versions(),
            failed=dict(self.failed),
            reported_at=time.time(),
        )

    def start(self, client: redis.Redis) -> None:
        """Take the rollout in force now, then follow it from a thread of this process.

        A pool process started after a promotion (Celery replaces one that died) answers
        with the promoted version from its first task, not with the one preloaded before
        the fork.
        """
        if self.thread is not None:
            return
        self._step(client, report=True)
        self.thread = threading.Thread(
            target=self._run, args=(client,), name="irisq-rollout", daemon=True
        )
        self.thread.start()

    def _step(self, client: redis.Redis, report: bool) -> None:
        """Read the rollout, follow it, and report when anything changed or `report`."""
        try:
            changed = self.follow(Rollout.from_fields(client.hgetall(ROLLOUT_KEY)))
            if changed or report:
                client.hset(ANSWERING_KEY, process_name(), self.report().model_dump_json())
        except redis.RedisError as exc:
            log.debug("rollout not read: %s", exc)
        except Exception:
            log.exception("following the rollout failed")

    def _run(self, client: redis.Redis) -> None:
        last_report = time.monotonic()
        while True:
            time.sleep(FOLLOW_EVERY_SECONDS)
            now = time.monotonic()
            due = now - last_report >= REPORT_EVERY_SECONDS
            self._step(client, report=due)
            if due:
                last_report = now
