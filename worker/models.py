"""The model registry's commands: train a version, list the versions, promote one, roll back.

Usage: python -m worker.models [--model-dir DIR] COMMAND
  train [--estimator rf|gbt|logreg] [--param NAME=VALUE ...] [--n-estimators N] [--seed S]
                                        add a version, not served
  list [--json]                         the versions, which is served, their hold-out accuracy
  promote VERSION [--canary PERCENT]    serve VERSION, or let it compute PERCENT % of the
                                        computed items beside the served one (a canary);
                                        promoting the canary finishes its rollout
  rollback                              end the canary, or else serve the version served
                                        before the current one

The registry is MODEL_DIR (worker/registry.py). Running workers switch without a restart:
promote and rollback wait (--wait SECONDS) until every worker process answers with the new
rollout, and say which could not load it (they keep answering with what they had).
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
from worker.rollout_wait import publish_and_wait
from worker.settings import WorkerSettings
from worker.train import (
    ESTIMATORS,
    N_ESTIMATORS,
    RANDOM_STATE,
    ParameterError,
    ParamValue,
    train_version,
)

# A refusal's exit status; argparse's usage errors exit with 2.
REFUSED = 1
# The registry changed, but some running worker process could not load the version, or had
# not followed when the wait ended.
NOT_FOLLOWED = 3
WAIT_SECONDS = 60.0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


# `--param` values that are no number.
WORDS: dict[str, ParamValue] = {"true": True, "false": False, "none": None}


def parse_param(text: str) -> tuple[str, ParamValue]:
    """`NAME=VALUE` as `--param` takes it: the value an int, else a float, else true, false
    or none (any case), else the text itself."""
    name, equals, value = text.partition("=")
    if not (equals and name):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    for number in (int, float):
        try:
            return name, number(value)
        except ValueError:
            pass
    return name, WORDS.get(value.lower(), value)


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
    trainer.add_argument(
        "--estimator",
        choices=ESTIMATORS,
        default="rf",
        help="rf: random forest, gbt: gradient boosting, logreg: logistic regression (default: rf)",
    )
    trainer.add_argument(
        "--param",
        type=parse_param,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of the estimator's scikit-learn class, repeated for more "
        "(a later one of the same NAME wins)",
    )
    trainer.add_argument(
        "--n-estimators",
        type=_positive,
        default=None,
        metavar="N",
        help=f"rf and gbt: --param n_estimators=N (default: {N_ESTIMATORS})",
    )
    trainer.add_argument("--seed", type=int, default=RANDOM_STATE)
    lister = commands.add_parser("list", help="the versions, which is served, their accuracy")
    lister.add_argument("--json", action="store_true", help="print JSON, for programs")
    promoter = commands.add_parser("promote", help="serve VERSION, or make it a canary")
    promoter.add_argument("version", metavar="VERSION")
    promoter.add_argument(
        "--canary",
        type=_percent,
        default=None,
        metavar="PERCENT",
        help="compute PERCENT %% (1-99) of the computed items with VERSION, the rest with the "
        "served version",
    )
    backer = commands.add_parser(
        "rollback", help="end the canary, or serve the version served before the current one"
    )
    for command in (promoter, backer):
        command.add_argument(
            "--wait",
            type=float,
            default=WAIT_SECONDS,
            metavar="SECONDS",
            help="how long to wait for the running workers to follow (0: do not wait)",
        )
    return parser


def _percent(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 99:
        raise argparse.ArgumentTypeError(f"{value} is not a share from 1 to 99")
    return value


def _train(
    root: Path,
    estimator: str,
    params: list[tuple[str, ParamValue]],
    n_estimators: int | None,
    seed: int,
) -> None:
    try:
        metadata, added = train_version(
            root, estimator=estimator, params=dict(params), n_estimators=n_estimators, seed=seed
        )
    except ParameterError as exc:
        raise RegistryError(f"refusing to train: {exc}") from exc
    if added:
        print(
            f"trained {metadata.version} (hold-out accuracy {metadata.holdout_accuracy:.3f}), "
            f"not served: `python -m worker.models promote {metadata.version}` serves it"
        )
    else:
        print(
            f"{metadata.version} is in the registry already (the same data, estimator, "
            "parameters and seed give the same version): nothing added"
        )


def _summary_json(summary: VersionSummary) -> dict[str, Any]:
    metadata = summary.metadata
    return {
        "version": summary.version,
        "served": summary.served,
        "trained_at": metadata.trained_at if metadata else None,
        "promoted_at": summary.promoted_at,
        "estimator": metadata.estimator if metadata else None,
        "params": metadata.params if metadata else None,
        "holdout_accuracy": metadata.holdout_accuracy if metadata else None,
        "n_estimators": metadata.n_estimators if metadata else None,
        "random_state": metadata.random_state if metadata else None,
        "problem": summary.problem,
    }


def _table(summaries: list[VersionSummary]) -> str:
    header = (
        "",
        "version",
        "estimator",
        "trained_at",
        "promoted_at",
        "accuracy",
        "trees",
        "seed",
    )
    rows = [header]
    for summary in summaries:
        metadata = summary.metadata
        rows.append(
            (
                "*" if summary.served else "",
                summary.version,
                metadata.estimator if metadata else "?",
                metadata.trained_at if metadata else "?",
                summary.promoted_at or "-",
                f"{metadata.holdout_accuracy:.3f}" if metadata else "?",
                # "-" for an estimator that is no ensemble (n_estimators 0).
                (str(metadata.n_estimators) if metadata.n_estimators else "-") if metadata else "?",
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
        print(f"* served: {record.served}")
        if record.canary is not None:
            print(f"  canary: {record.canary.version} ({record.canary.percent} %)")


def _follow(root: Path, wait: float) -> int:
    """Wait for the running workers to take the new rollout; the exit status."""
    followed = publish_and_wait(root, WorkerSettings(), wait)
    if followed.unreachable is not None:
        print(
            f"Redis not reached ({followed.unreachable}): each worker follows within seconds "
            "of reaching it"
        )
        return 0
    took = len(followed.switched)
    total = took + len(followed.failed) + len(followed.pending)
    if total == 0:
        print("no worker is running: workers answer with it when they start")
        return 0
    print(
        f"{took} of {total} worker processes answer with {', '.join(followed.rollout.versions())}"
        f" ({followed.seconds:.2f} s)"
    )
    for process, reason in followed.failed.items():
        print(f"  {process} could not load it and answers with what it had: {reason}")
    for process in followed.pending:
        print(f"  {process} has not followed after {followed.seconds:.0f} s")
    return NOT_FOLLOWED if followed.failed or followed.pending else 0


def _promote(root: Path, version: str, canary: int | None, wait: float) -> int:
    record, before = promote(root, version, canary)
    if before == version:
        print(f"{version} is served already: nothing changed")
        return 0
    if record.canary is not None:
        print(
            f"{version} is the canary: it computes {record.canary.percent} % of the computed "
            f"items, {record.served} the rest. `promote {version}` finishes the rollout, "
            "`rollback` ends it."
        )
    else:
        follows = f"after {before}" if before else f"instead of the model in {root} itself"
        print(f"{version} is served now, {follows}.")
    return _follow(root, wait) if wait > 0 else 0


def _rollback(root: Path, wait: float) -> int:
    record, left = rollback(root)
    if left != record.served and record.history[-1].via == "canary-ended":
        print(f"the canary {left} is ended: {record.served} computes every item.")
    else:
        print(f"{record.served} is served now, rolled back from {left}.")
    return _follow(root, wait) if wait > 0 else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Warnings (a model from another scikit-learn) reach the user; the table stays on stdout.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    root: Path = args.model_dir or WorkerSettings().model_dir
    try:
        if args.command == "train":
            _train(root, args.estimator, args.param, args.n_estimators, args.seed)
        elif args.command == "list":
            _list(root, args.json)
        elif args.command == "promote":
            return _promote(root, args.version, args.canary, args.wait)
        else:
            return _rollback(root, args.wait)
    except (RegistryError, ModelIntegrityError) as exc:
        print(f"models {args.command}: {exc}", file=sys.stderr)
        return REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
