"""After promote or rollback: publish the new rollout and wait until every worker follows.

The registry command publishes the record it wrote (contract/rollout.py; a worker's main
process would within seconds anyway) and then reads the pool processes' reports until each
live one answers with what the rollout names, or says it could not load it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from contract import lua_scripts
from contract.lua_scripts import Script
from contract.rollout import ANSWERING_KEY, ProcessReport, Rollout, live_reports
from worker.registry import read_rollout
from worker.settings import WorkerSettings

POLL_SECONDS = 0.05


@dataclass
class Followed:
    """How the running workers took a rollout."""

    rollout: Rollout
    seconds: float
    # Pool processes answering with every version the rollout names.
    switched: list[str] = field(default_factory=list)
    # Pool processes that could not load a version, with why: they answer with what they had.
    failed: dict[str, str] = field(default_factory=dict)
    # Pool processes that had not reported the rollout when the wait ended.
    pending: list[str] = field(default_factory=list)
    # Redis could not be reached: the workers' main processes publish it within seconds.
    unreachable: str | None = None


def _took(report: ProcessReport, rollout: Rollout) -> bool:
    return report.generation >= rollout.generation and set(report.answering) == set(
        rollout.versions()
    )


def publish_and_wait(root: Path, settings: WorkerSettings, wait_seconds: float) -> Followed:
    started = time.monotonic()
    rollout = read_rollout(root)
    client = redis.Redis.from_url(settings.redis_dsn, socket_timeout=settings.redis_timeout_seconds)
    try:
        publish = client.register_script(lua_scripts.source(Script.PUBLISH_ROLLOUT))
        keys, args = lua_scripts.publish_rollout(rollout)
        publish(keys=keys, args=args)
        while True:
            reports = live_reports(client.hgetall(ANSWERING_KEY), time.time())
            followed = Followed(rollout, time.monotonic() - started)
            for report in reports:
                if _took(report, rollout):
                    followed.switched.append(report.process)
                elif failures := {
                    v: r for v, r in report.failed.items() if v in rollout.versions()
                }:
                    followed.failed[report.process] = "; ".join(
                        f"{version}: {reason}" for version, reason in failures.items()
                    )
                else:
                    followed.pending.append(report.process)
            if not followed.pending or followed.seconds >= wait_seconds:
                return followed
            time.sleep(POLL_SECONDS)
    except redis.RedisError as exc:
        return Followed(rollout, time.monotonic() - started, unreachable=str(exc))
    finally:
        client.close()
