"""Background traffic for fault tests: mixed requests from a few threads, every answer kept."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Self

import httpx

from tests.support.items import SETOSA, fresh_item

SYNC_WAIT_SECONDS = 3


@dataclass
class Answer:
    kind: str
    status: int
    seconds: float
    content_type: str
    body: str
    at: float


class LoadThreads:
    """`threads` threads, each running `_run(n)` until the context ends; a thread that does not
    stop within 30 s fails the test."""

    threads: int
    _stop: threading.Event
    _running: list[threading.Thread]

    def _run(self, n: int) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._running.append(thread)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._running:
            thread.join(timeout=30)
        assert not any(t.is_alive() for t in self._running), "a load thread hung"


@dataclass
class Load(LoadThreads):
    """`threads` clients sending cached, fresh sync, async and job-read requests in turn."""

    base_url: str
    threads: int = 6
    answers: list[Answer] = field(default_factory=list)
    accepted_jobs: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _running: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _request(self, http: httpx.Client, kind: str) -> httpx.Response:
        if kind == "cached":
            return http.post("/predict", json={"items": [SETOSA]})
        if kind == "sync":
            return http.post(f"/predict?wait={SYNC_WAIT_SECONDS}", json={"items": [fresh_item()]})
        if kind == "async":
            return http.post("/predict?mode=async", json={"items": [fresh_item()] * 3})
        with self._lock:
            job_id = self.accepted_jobs[-1] if self.accepted_jobs else "0" * 32
        return http.get(f"/jobs/{job_id}")

    def _run(self, n: int) -> None:
        kinds = itertools.cycle(["cached", "sync", "async", "job"])
        for _ in range(n):
            next(kinds)
        # The client's own timeout is far past any deadline the gateway must keep.
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            while not self._stop.is_set():
                kind = next(kinds)
                started = time.monotonic()
                try:
                    response = self._request(http, kind)
                except httpx.TransportError as exc:
                    self._keep(Answer(kind, 0, time.monotonic() - started, "", repr(exc), started))
                    continue
                answer = Answer(
                    kind,
                    response.status_code,
                    time.monotonic() - started,
                    response.headers.get("content-type", ""),
                    response.text,
                    started,
                )
                self._keep(answer)
                if response.status_code == 202:
                    with self._lock:
                        self.accepted_jobs.append(response.json()["job_id"])
                time.sleep(0.01)

    def _keep(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> Counter[int]:
        with self._lock:
            return Counter(a.status for a in self.answers if since <= a.at < until)

    def count(self) -> int:
        with self._lock:
            return len(self.answers)
