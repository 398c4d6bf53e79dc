"""A version rolled out and back under continuous mixed load, against the real stack.

Two workers (two pool processes each) and a gateway serve version A. While sync, async,
cached and batch requests keep coming, B becomes a canary, then is served, then is rolled
back. Every answer must be 2xx, name only versions that answered at that moment, and each
item's probabilities must be the very ones the version it names computes for its row.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from contract.cache_keys import canonical_values
from contract.http import FEATURES
from scripts.stack import ROOT, LocalStack, wait_until
from tests.support.items import SETOSA, fresh_item
from worker.model import LoadedModel, load_model
from worker.registry import promote, version_dir
from worker.train import train_version

TREES = 20
CANARY_PERCENT = 30
PHASE_SECONDS = 4.0
THREADS = 6

# An answered item: its row, the version it names, its probabilities in class order.
Item = tuple[list[float], str, list[float]]


@dataclass
class Answer:
    kind: str
    sent: float
    received: float
    status: int
    # Each item's row, version and probabilities, in the answer's class order.
    items: list[Item] = field(default_factory=list)
    cached: list[bool] = field(default_factory=list)


@dataclass
class Phase:
    """The versions that may answer from `start` on (until the next phase starts)."""

    start: float
    versions: frozenset[str]


def _items(
    body: dict[str, Any], rows: list[list[float]]
) -> list[tuple[list[float], str, list[float]]]:
    version = body["model_version"]
    return [
        (row, item.get("model_version", version), list(item["probabilities"].values()))
        for row, item in zip(rows, body["items"], strict=True)
    ]


class MixedLoad:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.answers: list[Answer] = []
        self.jobs: list[tuple[str, list[list[float]], float]] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(THREADS)]

    def __enter__(self) -> MixedLoad:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _run(self, n: int) -> None:
        kinds = ["cached", "sync", "batch", "async"]
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            i = n
            while not self.stop.is_set():
                kind = kinds[i % len(kinds)]
                i += 1
                items = (
                    [SETOSA]
                    if kind == "cached"
                    else [fresh_item()]
                    if kind == "sync"
                    else [SETOSA, fresh_item(), fresh_item()]
                    if kind == "batch"
                    else [fresh_item(), fresh_item()]
                )
                rows = [canonical_values([item[f] for f in FEATURES]) for item in items]
                mode = "?mode=async" if kind == "async" else ""
                sent = time.time()
                try:
                    response = http.post(f"/predict{mode}", json={"items": items})
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.errors.append(f"{kind}: {exc!r}")
                    continue
                answer = Answer(kind, sent, time.time(), response.status_code)
                if response.status_code == 200:
                    body = response.json()
                    answer.items = _items(body, rows)
                    answer.cached = [item["cached"] for item in body["items"]]
                elif response.status_code == 202:
                    with self.lock:
                        self.jobs.append((response.json()["job_id"], rows, sent))
                with self.lock:
                    self.answers.append(answer)


def _models_cli(stack: LocalStack, *args: str, status: int = 0) -> tuple[str, float]:
    """The command's output, once it exits with `status`, and when it started."""
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-m", "worker.models", *args],
        env=stack.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == status, result.stdout + result.stderr
    print(f"\n{' '.join(args)}: {time.time() - started:.2f} s, the command's own start included")
    return result.stdout, started


def _switch_seconds(output: str) -> float:
    match = re.search(r"(\d+) of (\d+) worker processes answer with .* \((\d+\.\d+) s\)", output)
    assert match, output
    assert match[1] == match[2] == "4", output
    return float(match[3])


def _allowed(phases: list[Phase], sent: float, received: float) -> frozenset[str]:
    """The versions that answered at some moment between `sent` and `received`."""
    allowed: set[str] = set()
    for phase, following in zip(phases, [*phases[1:], None], strict=True):
        end = following.start if following is not None else float("inf")
        if phase.start <= received and end >= sent:
            allowed |= phase.versions
    return frozenset(allowed)


def _done(http: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        view: dict[str, Any] = http.get(f"/jobs/{job_id}").json()
        if view["status"] == "done":
            return view
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is not done after 30 s: {view}")


@pytest.fixture
def registry(tmp_path: Path) -> tuple[Path, str, str]:
    root = tmp_path / "registry"
    first, _ = train_version(root, n_estimators=TREES, seed=1)
    second, _ = train_version(root, n_estimators=TREES, seed=2)
    promote(root, first.version)
    return root, first.version, second.version


def test_canary_promotion_and_rollback_under_mixed_load_answer_only_with_versions_answering(
    tmp_path: Path, registry: tuple[Path, str, str]
) -> None:
    root, a, b = registry
    models: dict[str, LoadedModel] = {v: load_model(version_dir(root, v)) for v in (a, b)}
    stack = LocalStack(tmp_path / "stack", model_dir=root)
    http = httpx.Client(timeout=10)
    try:
        stack.start_redis()
        stack.start_worker(WORKER_CONCURRENCY="2")
        stack.start_worker(WORKER_CONCURRENCY="2")
        stack.start_gateway()
        http.base_url = httpx.URL(stack.base_url)
        wait_until(lambda: http.get("/ready").status_code == 200, 30, "ready")
        assert http.get("/model").json()["version"] == a

        phases = [Phase(0.0, frozenset({a}))]
        switches: dict[str, float] = {}
        with MixedLoad(stack.base_url) as load:
            time.sleep(PHASE_SECONDS)
            output, started = _models_cli(stack, "promote", b, "--canary", str(CANARY_PERCENT))
            phases.append(Phase(started, frozenset({a, b})))
            switches["canary"] = _switch_seconds(output)
            during_canary = http.get("/model").json()
            canary_from = time.time()
            time.sleep(PHASE_SECONDS)
            canary_until = time.time()

            output, started = _models_cli(stack, "promote", b)
            phases.append(Phase(started, frozenset({a, b})))
            switches["promote"] = _switch_seconds(output)
            phases.append(Phase(time.time(), frozenset({b})))
            after_promote = http.get("/model").json()
            time.sleep(PHASE_SECONDS)

            output, started = _models_cli(stack, "rollback")
            phases.append(Phase(started, frozenset({a, b})))
            switches["rollback"] = _switch_seconds(output)
            phases.append(Phase(time.time(), frozenset({a})))
            time.sleep(PHASE_SECONDS)
        assert not load.errors, load.errors[:5]

        # Every async job ends done, each item computed by a version of its moment.
        for job_id, rows, sent in load.jobs:
            view = _done(http, job_id)
            load.answers.append(
                Answer("async", sent, view["finished_at"], 200, _items(view, rows), [])
            )
    finally:
        http.close()
        stack.stop_all()

    statuses = Counter(answer.status for answer in load.answers)
    assert set(statuses) <= {200, 202}, statuses
    assert during_canary["version"] == a
    assert during_canary["canary"] == {"version": b, "percent": CANARY_PERCENT}
    assert sorted(during_canary["answering"]) == sorted([a, b])
    assert after_promote["version"] == b
    assert after_promote["canary"] is None

    wrong_version, wrong_answer = [], []
    canary_items: Counter[str] = Counter()
    for answer in load.answers:
        allowed = _allowed(phases, answer.sent, answer.received)
        for i, (row, version, probabilities) in enumerate(answer.items):
            if version not in allowed:
                wrong_version.append((answer.kind, version, answer.sent, answer.received))
            expected = models[version].predict_proba(np.array([row]))[0].tolist()
            if probabilities != expected:
                wrong_answer.append((answer.kind, version, row))
            computed = not (answer.cached and answer.cached[i])
            if computed and canary_from <= answer.sent and answer.received <= canary_until:
                canary_items[version] += 1
    assert not wrong_version, wrong_version[:5]
    assert not wrong_answer, wrong_answer[:5]
    answered = sum(1 for answer in load.answers if answer.items)
    assert answered > 200, answered
    # The canary computes its share of the computed items (30 %, drawn per task).
    share = canary_items[b] / max(1, sum(canary_items.values()))
    assert 0.1 < share < 0.6, canary_items
    print(
        f"\nrollout: {answered} answers, {len(load.jobs)} async jobs, statuses {dict(statuses)}, "
        f"canary share {share:.2f} of {sum(canary_items.values())} computed items, "
        f"switch seconds {switches}"
    )


def test_a_worker_that_cannot_load_a_promoted_version_keeps_answering_and_says_so(
    tmp_path: Path, registry: tuple[Path, str, str]
) -> None:
    """A worker whose registry lacks the version (another host's volume, say)."""
    full, a, b = registry
    own = tmp_path / "worker-registry"
    own.mkdir()
    shutil.copytree(version_dir(full, a), version_dir(own, a))
    promote(own, a)
    stack = LocalStack(tmp_path / "stack", model_dir=own)
    http = httpx.Client(timeout=10)
    try:
        stack.start_redis()
        stack.start_worker()
        stack.start_gateway()
        http.base_url = httpx.URL(stack.base_url)
        wait_until(lambda: http.get("/ready").status_code == 200, 30, "ready")
        listed = http.get("/models").json()
        assert listed["served"] == a
        assert [(v["version"], v["served"]) for v in listed["versions"]] == [(a, True)]

        output, _ = _models_cli(stack, "--model-dir", str(full), "promote", b, status=3)
        assert "0 of 1 worker processes answer with" in output
        assert f"could not load it and answers with what it had: {b}:" in output

        ready = http.get("/ready")
        assert ready.status_code == 200
        failures = ready.json()["model_load_failures"]
        assert [key.split()[-1] for key in failures] == [b]
        assert "not found" in next(iter(failures.values()))
        assert http.get("/model").json()["answering"] == [a]
        answer = http.post("/predict", json={"items": [fresh_item()]})
        assert answer.status_code == 200
        assert answer.json()["model_version"] == a

        output, _ = _models_cli(stack, "--model-dir", str(full), "rollback")
        assert "1 of 1 worker processes answer with" in output
        assert "model_load_failures" not in http.get("/ready").json()
    finally:
        http.close()
        stack.stop_all()
