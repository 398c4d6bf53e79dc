"""The model registry's commands: train a version, list the versions, promote one, roll back.

Usage: python -m worker.models [--model-dir DIR] COMMAND
  train [--n-estimators N] [--seed S]   add a version, not served
  list [--json]                         the versions, which is served, their hold-out accuracy
  promote VERSION                       serve VERSION from the workers' next start
  rollback                              serve the version served before the current one

The registry is MODEL_DIR (worker/registry.py). A worker reads the served version when it
starts: after promote or rollback, restart the workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from worker.model import ModelIntegrityError
from worker.registry import (
    RegistryError,
    VersionSummary,
    list_versions,
    promote,
    read_served,
    rollback,
    served_dir,
)
from worker.settings import WorkerSettings
from worker.train import N_ESTIMATORS, RANDOM_STATE, train_version

# A refusal's exit status; argparse's usage errors exit with 2.
REFUSED = 1
RESTART_HINT = "Workers load it at their next start: restart them (hot swap is not built yet)."


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m worker.models",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="the registry (default: MODEL_DIR)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    trainer = commands.add_parser("train", help="train a version into the registry, not served")
    trainer.add_argument("--n-estimators", type=_positive, default=N_ESTIMATORS)
    trainer.add_argument("--seed", type=int, default=RANDOM_STATE)
    lister = commands.add_parser("list", help="the versions, which is served, their accuracy")
    lister.add_argument("--json", action="store_true", help="print JSON, for programs")
    promoter = commands.add_parser("promote", help="serve VERSION from the workers' next start")
    promoter.add_argument("version", metavar="VERSION")
    commands.add_parser("rollback", help="serve the version served before the current one")
    return parser


def _train(root: Path, n_estimators: int, seed: int) -> None:
    metadata, added = train_version(root, n_estimators=n_estimators, seed=seed)
    if added:
        print(
            f"trained {metadata.version} (hold-out accuracy {metadata.holdout_accuracy:.3f}), "
            f"not served: `python -m worker.models promote {metadata.version}` serves it"
        )
    else:
        print(
            f"{metadata.version} is in the registry already (the same data and seed give the "
            "same version): nothing added"
        )


def _summary_json(summary: VersionSummary) -> dict[str, Any]:
    metadata = summary.metadata
    return {
        "version": summary.version,
        "served": summary.served,
        "trained_at": metadata.trained_at if metadata else None,
        "promoted_at": summary.promoted_at,
        "holdout_accuracy": metadata.holdout_accuracy if metadata else None,
        "n_estimators": metadata.n_estimators if metadata else None,
        "random_state": metadata.random_state if metadata else None,
        "problem": summary.problem,
    }


def _table(summaries: list[VersionSummary]) -> str:
    header = ("", "version", "trained_at", "promoted_at", "accuracy", "trees", "seed")
    rows = [header]
    for summary in summaries:
        metadata = summary.metadata
        rows.append(
            (
                "*" if summary.served else "",
                summary.version,
                metadata.trained_at if metadata else "?",
                summary.promoted_at or "-",
                f"{metadata.holdout_accuracy:.3f}" if metadata else "?",
                str(metadata.n_estimators) if metadata else "?",
                str(metadata.random_state) if metadata else "?",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines += [f"{summary.version}: {summary.problem}" for summary in summaries if summary.problem]
    return "\n".join(line.rstrip() for line in lines)


def _list(root: Path, as_json: bool) -> None:
    record = read_served(root)
    summaries = list_versions(root)
    if as_json:
        document = {
            "root": str(root),
            "served": record.served if record else None,
            "served_dir": str(served_dir(root)),
            "versions": [_summary_json(summary) for summary in summaries],
        }
        print(json.dumps(document, indent=2))
        return
    if summaries:
        print(_table(summaries))
    else:
        print(f"no versions in {root / 'versions'}: `python -m worker.models train` adds one")
    if record is None:
        print(f"no version promoted: workers serve the model in {root} itself")
    else:
        print(f"* served: {record.served} (workers load it at their start)")


def _promote(root: Path, version: str) -> None:
    _, before = promote(root, version)
    if before == version:
        print(f"{version} is served already: nothing changed")
        return
    follows = f"after {before}" if before else f"instead of the model in {root} itself"
    print(f"{version} is served now, {follows}. {RESTART_HINT}")


def _rollback(root: Path) -> None:
    record, left = rollback(root)
    print(f"{record.served} is served now, rolled back from {left}. {RESTART_HINT}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Warnings (a model from another scikit-learn) reach the user; the table stays on stdout.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    root: Path = args.model_dir or WorkerSettings().model_dir
    try:
        if args.command == "train":
            _train(root, args.n_estimators, args.seed)
        elif args.command == "list":
            _list(root, args.json)
        elif args.command == "promote":
            _promote(root, args.version)
        else:
            _rollback(root)
    except (RegistryError, ModelIntegrityError) as exc:
        print(f"models {args.command}: {exc}", file=sys.stderr)
        return REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
