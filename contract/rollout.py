"""The rollout: which model versions answer, as every gateway and worker process reads it.

The registry's served record (worker/registry.py, on the workers' volume) is the truth; its
mirror in Redis is what the running system follows:

- `irisq:rollout` (hash): the served version, the canary and its share of computed items,
  and the record's generation. Only a newer generation replaces it (PUBLISH_ROLLOUT), so the
  promote command and every worker may write it without a race undoing a promotion.
- `irisq:model:answering` (hash): each worker pool process's report of the versions it
  answers with now and those it could not load; a report older than REPORT_LIVE_SECONDS is a
  process that is gone.
- `irisq:model:registry` (string): the registry's versions as `GET /models` lists them.

The gateway looks the cache up only under the served version: the lookup script compares the
version the gateway used with this hash in the same call (contract/lua).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, Field, ValidationError

from contract.keys import KEY_PREFIX
from contract.model import ModelMetadata

ROLLOUT_KEY = f"{KEY_PREFIX}:rollout"
ANSWERING_KEY = f"{KEY_PREFIX}:model:answering"
REGISTRY_KEY = f"{KEY_PREFIX}:model:registry"
# A pool process reports every second; three missed reports and it no longer counts.
REPORT_EVERY_SECONDS = 1.0
REPORT_LIVE_SECONDS = 3.0
# Reports this old are removed by whoever reads them: a process restarted under a new pid
# leaves its old field behind.
REPORT_FORGET_SECONDS = 60.0


class RolloutField(StrEnum):
    SERVED = "served"
    CANARY = "canary"
    CANARY_PERCENT = "canary_percent"
    GENERATION = "generation"


class Rollout(BaseModel):
    """The versions that answer: the served one, and during a canary the canary too."""

    served: str
    canary: str | None = None
    # The share of computed items the canary computes, in percent (1-99 during a canary).
    canary_percent: int = Field(default=0, ge=0, le=100)
    generation: int = 0

    def versions(self) -> list[str]:
        return [self.served] if self.canary is None else [self.served, self.canary]

    def fields(self) -> dict[str, str | int]:
        """The hash's fields; an empty canary is written as "" (HSET cannot unset)."""
        return {
            RolloutField.SERVED: self.served,
            RolloutField.CANARY: self.canary or "",
            RolloutField.CANARY_PERCENT: self.canary_percent,
            RolloutField.GENERATION: self.generation,
        }

    @classmethod
    def from_fields(cls, raw: Mapping[bytes | str, bytes | str]) -> Rollout | None:
        """The rollout from HGETALL's reply; None when none is published (or it is unreadable)."""
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if not fields.get(RolloutField.SERVED):
            return None
        try:
            return cls(
                served=fields[RolloutField.SERVED],
                canary=fields.get(RolloutField.CANARY) or None,
                canary_percent=int(fields.get(RolloutField.CANARY_PERCENT) or 0),
                generation=int(fields.get(RolloutField.GENERATION) or 0),
            )
        except (ValueError, ValidationError):
            return None


class ProcessReport(BaseModel):
    """What one worker pool process answers with, as it last reported."""

    process: str
    generation: int
    # The versions its tasks run on now: the served one (or the one it keeps while it cannot
    # load the served one), and the canary when it has it.
    answering: list[str]
    # Versions it could not load, with the reason.
    failed: dict[str, str] = Field(default_factory=dict)
    reported_at: float

    def live(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) - self.reported_at < REPORT_LIVE_SECONDS


def live_reports(raw: Mapping[bytes | str, bytes | str], now: float) -> list[ProcessReport]:
    """The reports of processes that reported lately, from HGETALL of ANSWERING_KEY."""
    reports = []
    for value in raw.values():
        try:
            report = ProcessReport.model_validate_json(value)
        except ValidationError:
            continue
        if report.live(now):
            reports.append(report)
    return sorted(reports, key=lambda report: report.process)


def forgotten(raw: Mapping[bytes | str, bytes | str], now: float) -> list[bytes | str]:
    """The fields of ANSWERING_KEY that are old enough to remove (or unreadable)."""
    old = []
    for name, value in raw.items():
        try:
            report = ProcessReport.model_validate_json(value)
        except ValidationError:
            old.append(name)
            continue
        if now - report.reported_at > REPORT_FORGET_SECONDS:
            old.append(name)
    return old


class CanaryView(BaseModel):
    version: str
    percent: int


class RegistryVersion(BaseModel):
    """One version of the registry, as `GET /models` lists it."""

    version: str
    served: bool
    canary: bool
    # The latest time it was served, by promotion or rollback; None if it never was.
    promoted_at: str | None
    metadata: ModelMetadata | None
    # Why its metadata could not be read; such a version cannot be promoted.
    problem: str | None = None


class RegistryView(BaseModel):
    """`GET /models`: the registry as the workers last published it."""

    served: str | None
    canary: CanaryView | None
    versions: list[RegistryVersion]


class ServedModel(ModelMetadata):
    """`GET /model`: the served version's metadata, and every version answering now.

    During a rollout more than one version answers: the canary, or a version some worker
    process keeps until it has loaded the newly served one.
    """

    canary: CanaryView | None = None
    answering: list[str] = Field(default_factory=list)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
