"""The model registry: versions side by side under MODEL_DIR, and the record of the served one.

    MODEL_DIR/versions/<version>/model.joblib, model_metadata.json   one per trained version
    MODEL_DIR/served.json   {"served": version, "canary": {"version", "percent"} | null,
                             "generation": n, "history": [{"version", "promoted_at", "via"}]}

Without served.json, MODEL_DIR itself is the model directory (the layout `python -m
worker.train` writes), and workers serve it as it is. Training a version is worker/train.py's
`train_version`: the worker reads this module at start and needs none of the training code.

Every change of the record raises its generation; the running system follows the record's
mirror in Redis (contract/rollout.py), which only a newer generation replaces.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, ValidationError

from contract.http import FEATURES
from contract.model import ModelMetadata
from contract.rollout import CanaryView, RegistryVersion, RegistryView, Rollout
from worker.model import (
    ModelIntegrityError,
    load_model,
    read_file,
    read_metadata,
    validation_problems,
    verify_checksum,
)

VERSIONS_DIR = "versions"
SERVED_FILE = "served.json"
# The classes a version must answer with when no served model says otherwise.
IRIS_CLASSES = ("setosa", "versicolor", "virginica")
# `rf-<sha12>` as worker/train.py names a version; also keeps a name from leaving versions/.
VERSION_PATTERN = r"^[a-z]+-[0-9a-f]{12}$"
VERSION_NAME = re.compile(VERSION_PATTERN)
VersionName = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]


class RegistryError(RuntimeError):
    """A registry command refuses; the message says why, and nothing has changed."""


class Promotion(BaseModel):
    version: VersionName
    promoted_at: str
    # A rollback serves an earlier version again; the next rollback goes back past it. A
    # canary's start and end change no served version.
    via: Literal["promote", "rollback", "canary", "canary-ended"] = "promote"


class Canary(BaseModel):
    version: VersionName
    # The share of computed items it computes.
    percent: int = Field(ge=1, le=99)


class ServedRecord(BaseModel):
    served: VersionName
    canary: Canary | None = None
    generation: int = 0
    history: list[Promotion]

    def served_stack(self) -> list[str]:
        """The versions a rollback goes back through, the served one last."""
        stack: list[str] = []
        for entry in self.history:
            if entry.via in ("canary", "canary-ended"):
                continue
            if entry.via == "rollback" and stack:
                stack.pop()
            else:
                stack.append(entry.version)
        return stack

    def rollout(self) -> Rollout:
        canary = self.canary
        return Rollout(
            served=self.served,
            canary=canary.version if canary else None,
            canary_percent=canary.percent if canary else 0,
            generation=self.generation,
        )


@dataclass(frozen=True)
class VersionSummary:
    version: str
    served: bool
    # The latest time it was served, by promotion or rollback; None if it never was.
    promoted_at: str | None
    metadata: ModelMetadata | None
    # Why the metadata could not be read, when it could not; such a version cannot be promoted.
    problem: str | None = None


def version_dir(root: Path, version: str) -> Path:
    if not VERSION_NAME.fullmatch(version):
        raise RegistryError(f"{version!r} is not a version name (like rf-0123456789ab)")
    return root / VERSIONS_DIR / version


def read_served(root: Path) -> ServedRecord | None:
    """The served record, or None when nothing was ever promoted (the legacy layout)."""
    path = root / SERVED_FILE
    # served.json is only ever replaced whole, never removed.
    if not path.exists():
        return None
    # A worker refuses to start on these errors, with their message as its one log line.
    try:
        return ServedRecord.model_validate_json(read_file(path, "served record"))
    except ValidationError as exc:
        raise ModelIntegrityError(
            f"served record at {path} is not valid: {validation_problems(exc)}"
        ) from exc


def served_dir(root: Path) -> Path:
    """The directory workers load: the served version's, or `root` itself without a record."""
    record = read_served(root)
    return root if record is None else root / VERSIONS_DIR / record.served


def read_rollout(root: Path) -> Rollout:
    """The versions that answer, as the record says; without one, `root`'s own model at
    generation 0."""
    record = read_served(root)
    if record is None:
        return Rollout(served=read_metadata(root).version)
    return record.rollout()


def version_path(root: Path, version: str) -> Path:
    """Where a version of the rollout is: its directory, or `root` for the layout without
    a registry, whose one model is `root` itself."""
    directory = version_dir(root, version)
    if directory.is_dir() or read_served(root) is not None:
        return directory
    return root


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_served(root: Path, record: ServedRecord) -> None:
    # Write then rename: a worker starting meanwhile reads the old record or the new, whole.
    tmp = root / (SERVED_FILE + ".tmp")
    tmp.write_text(record.model_dump_json(indent=2) + "\n")
    os.replace(tmp, root / SERVED_FILE)


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold the registry's lock: two commands rewriting served.json at once would lose one."""
    try:
        # The lock is on the directory itself, so the lock leaves no file behind.
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise RegistryError(f"no model registry at {root}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def api_classes(root: Path) -> tuple[list[str], str]:
    """The classes the API answers with, and whose they are: the served model's, else iris's."""
    try:
        return read_metadata(served_dir(root)).classes, "the served model's"
    except ModelIntegrityError:
        return list(IRIS_CLASSES), "iris's"


def _refuse_unlike_api(root: Path, metadata: ModelMetadata, refusing: str) -> None:
    """Refuse a version whose answers would not mean what the API's clients expect."""
    problems = []
    features = [feature.get("name", "") for feature in metadata.features]
    if features != list(FEATURES):
        problems.append(f"features {', '.join(features)}; the API takes {', '.join(FEATURES)}")
    classes, whose = api_classes(root)
    if metadata.classes != classes:
        problems.append(
            f"classes {', '.join(metadata.classes)}; the API answers with {', '.join(classes)} "
            f"({whose})"
        )
    if problems:
        raise RegistryError(f"{refusing}: it has " + "; and ".join(problems))


def _check(root: Path, version: str, refusing: str) -> None:
    """Refuse a version unless it is whole, answers like the API, and loads as a worker loads it.

    `refusing` starts each refusal's message ("refusing to promote rf-...").
    """
    directory = version_dir(root, version)
    if not directory.is_dir():
        raise RegistryError(f"{refusing}: no such version in {directory.parent}")
    try:
        metadata = verify_checksum(directory)
    except ModelIntegrityError as exc:
        raise RegistryError(f"{refusing}: {exc}") from exc
    if metadata.version != version:
        raise RegistryError(f"{refusing}: its metadata names version {metadata.version}")
    _refuse_unlike_api(root, metadata, refusing)
    try:
        # A worker would refuse to start on a version that does not load: refuse it now.
        load_model(directory)
    except ModelIntegrityError as exc:
        raise RegistryError(f"{refusing}: {exc}") from exc


def promote(
    root: Path, version: str, canary_percent: int | None = None
) -> tuple[ServedRecord, str | None]:
    """Serve `version`, or with `canary_percent` make it the canary computing that share of
    computed items; returns the record and the version served before.

    Promoting the served version changes nothing (the one before is itself); promoting the
    canary without a share finishes its rollout.
    """
    with _locked(root):
        record = read_served(root)
        if record is not None and record.served == version:
            if canary_percent is not None:
                raise RegistryError(f"{version} is the served version; it cannot be a canary")
            return record, version
        if canary_percent is not None and record is None:
            raise RegistryError(
                f"refusing a canary of {version}: no version was ever promoted to compare it "
                "with; promote one first"
            )
        _check(root, version, f"refusing to promote {version}")
        before = record.served if record is not None else None
        history = record.history if record is not None else []
        generation = record.generation + 1 if record is not None else 1
        now = _now()
        if canary_percent is not None and record is not None:
            record = ServedRecord(
                served=record.served,
                canary=Canary(version=version, percent=canary_percent),
                generation=generation,
                history=[*history, Promotion(version=version, promoted_at=now, via="canary")],
            )
        else:
            record = ServedRecord(
                served=version,
                generation=generation,
                history=[*history, Promotion(version=version, promoted_at=now)],
            )
        _write_served(root, record)
        return record, before


def rollback(root: Path) -> tuple[ServedRecord, str]:
    """End the canary, or else serve the version served before the current one; returns
    the record and the version that no longer answers."""
    with _locked(root):
        record = read_served(root)
        if record is None:
            raise RegistryError("nothing to roll back: no version was ever promoted")
        now = _now()
        if record.canary is not None:
            left = record.canary.version
            record = ServedRecord(
                served=record.served,
                generation=record.generation + 1,
                history=[
                    *record.history,
                    Promotion(version=left, promoted_at=now, via="canary-ended"),
                ],
            )
            _write_served(root, record)
            return record, left
        stack = record.served_stack()
        if len(stack) < 2:
            raise RegistryError(
                f"nothing to roll back to: no version was served before {record.served}"
            )
        left, version = record.served, stack[-2]
        _check(root, version, f"refusing to roll back to {version}")
        record = ServedRecord(
            served=version,
            generation=record.generation + 1,
            history=[
                *record.history,
                Promotion(version=version, promoted_at=now, via="rollback"),
            ],
        )
        _write_served(root, record)
        return record, left


def list_versions(root: Path) -> list[VersionSummary]:
    """Every version in the registry, oldest trained first."""
    record = read_served(root)
    promoted_at = {
        entry.version: entry.promoted_at
        for entry in (record.history if record else [])
        if entry.via in ("promote", "rollback")
    }
    versions = root / VERSIONS_DIR
    summaries = []
    for path in versions.iterdir() if versions.is_dir() else []:
        # Skips the hidden directories a training in progress (or cut short) leaves.
        if not (path.is_dir() and VERSION_NAME.fullmatch(path.name)):
            continue
        metadata, problem = None, None
        try:
            metadata = read_metadata(path)
        except ModelIntegrityError as exc:
            problem = str(exc)
        summaries.append(
            VersionSummary(
                version=path.name,
                served=record is not None and record.served == path.name,
                promoted_at=promoted_at.get(path.name),
                metadata=metadata,
                problem=problem,
            )
        )
    return sorted(summaries, key=lambda s: (s.metadata.trained_at if s.metadata else "", s.version))


def registry_view(root: Path) -> RegistryView:
    """The registry as `GET /models` lists it."""
    record = read_served(root)
    canary = record.canary if record is not None else None
    versions = [
        RegistryVersion(
            version=summary.version,
            served=summary.served,
            canary=canary is not None and canary.version == summary.version,
            promoted_at=summary.promoted_at,
            metadata=summary.metadata,
            problem=summary.problem,
        )
        for summary in list_versions(root)
    ]
    if record is None:
        # The layout without a registry: its one model, served.
        try:
            metadata = read_metadata(root)
        except ModelIntegrityError:
            return RegistryView(served=None, canary=None, versions=versions)
        versions.append(
            RegistryVersion(
                version=metadata.version,
                served=True,
                canary=False,
                promoted_at=None,
                metadata=metadata,
            )
        )
        return RegistryView(served=metadata.version, canary=None, versions=versions)
    return RegistryView(
        served=record.served,
        canary=CanaryView(version=canary.version, percent=canary.percent) if canary else None,
        versions=versions,
    )
