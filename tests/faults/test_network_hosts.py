"""Redis, the gateway and two workers each on a host of its own, on a real network.

Each part runs in a Linux network namespace on one private switch (tests/support/netns.py),
so they talk over veth links and a bridge, not loopback, and a link can be cut as a cable
can. The test process is the client: its requests go through a forwarder on a client host.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.stack import RECORD_ENCODING, LocalStack, Service, command, wait_until
from tests.faults.load import LoadThreads
from tests.support.items import SETOSA, fresh_item
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric
from tests.support.netns import Host, NamespacesRefused, Network
from tests.support.problems import internals_in
from tests.support.processes import discard_stack, wait_ready

API_PORT = 8000
# Any port: Redis's host is a namespace of its own, where nothing else listens.
REDIS_PORT = 6390
REDIS_TIMEOUT_SECONDS = 2.0  # the default bound on one Redis call (REDIS_TIMEOUT_SECONDS)
# On a cut link nothing is refused, every call waits out its timeout: the gateway's call and
# its one retry (gateway/services.py), and a lookup may queue behind a batch of lookups in
# flight (gateway/lookup_or_open.py).
CALL_ON_A_CUT_SECONDS = 2 * REDIS_TIMEOUT_SECONDS
TASK_REDELIVERY_SECONDS = 3.0
SYNC_WAIT_SECONDS = 3
# Every answer must come before this: a sync wait, or a lookup behind another, each call
# waiting out the cut, and scheduling slack on a busy 2-core machine.
DEADLINE_SECONDS = SYNC_WAIT_SECONDS + 2 * CALL_ON_A_CUT_SECONDS + 3
# Well past the redelivery of a task the cut worker took (TASK_REDELIVERY_SECONDS after it
# was taken, checked every 0.5 s): the other worker has done its jobs before the cut worker
# reaches Redis again and finds them done.
WORKER_CUT_SECONDS = 8.0
REDIS_CUT_SECONDS = 10.0
# Scheduling slack: a request begun this long after the link returned may not end in a 503.
RECOVERY_GRACE_SECONDS = 1.0
# The task's own line, logged once it has written the results of one job or more.
TASK_DONE = re.compile(r"irisq\.task task=([0-9a-f-]+) jobs=[1-9]")
# A task run again after another run finished its jobs (contract/lua/mark_running.lua).
TASK_SKIPPED = re.compile(r"irisq\.task task=([0-9a-f-]+) jobs=0")
SENT_AGAIN = re.compile(r"task=([0-9a-f-]+) had no outcome")


@dataclass
class Site:
    """The hosts, the processes on them, and an HTTP client on the client host."""

    network: Network
    stack: LocalStack
    socket_path: Path
    gateway_host: Host
    redis_host: Host
    redis_password: str
    worker_hosts: list[Host]
    gateway: Service
    workers: list[Service]

    def client(self, timeout: float = 30) -> httpx.Client:
        """A client whose connections start on the client host and cross the switch."""
        return httpx.Client(
            base_url=f"http://{self.gateway_host.address}:{API_PORT}",
            transport=httpx.HTTPTransport(uds=str(self.socket_path)),
            timeout=timeout,
        )


def _start_on(stack: LocalStack, host: Host, name: str, argv: list[str], **env: str) -> Service:
    """A process on `host`, in the stack's services (the stack fixture kills what is left)."""
    service = Service(
        name, host.command(argv), stack.env(**env), stack.workdir / "logs" / f"{name}.log"
    )
    stack.services.append(service)
    return service.start()


def _wait_for_line(service: Service, text: str, timeout: float) -> None:
    wait_until(lambda: text in service.output() or not service.alive(), timeout, service.name)
    if not service.alive():
        raise RuntimeError(f"{service.name} exited:\n{service.output()[-3000:]}")


@pytest.fixture
def site(stack: LocalStack, tmp_path: Path) -> Iterator[Site]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root: `ip netns add` is refused to other users")
    network = Network(f"irisq{os.getpid()}")
    try:
        network.create()
    except NamespacesRefused as exc:
        pytest.skip(f"this machine refuses network namespaces ({exc})")
    try:
        redis_host = network.add_host("redis", 2)
        gateway_host = network.add_host("gateway", 3)
        worker_hosts = [network.add_host(f"worker{n}", 10 + n) for n in (1, 2)]
        client_host = network.add_host("client", 100)

        # Redis answers clients on other hosts only with a password (protected mode); it
        # goes in a config file, never on a command line (ps shows that).
        password = secrets.token_hex(16)
        stack.redis_url = f"redis://:{password}@{redis_host.address}:{REDIS_PORT}/0"
        data = stack.workdir / "redis"
        data.mkdir(parents=True)
        config = data / "redis.conf"
        config.write_text(f"requirepass {password}\n")
        config.chmod(0o600)
        redis = _start_on(stack, redis_host, "redis", [
            "redis-server", str(config), "--port", str(REDIS_PORT), "--bind", redis_host.address,
            "--save", "", "--appendonly", "no", "--dir", str(data),
            "--maxmemory-policy", "volatile-lru", *RECORD_ENCODING,
        ])  # fmt: skip
        _wait_for_line(redis, "Ready to accept connections", 10)

        workers = [
            _start_on(
                stack,
                host,
                f"worker{n}",
                command("worker"),
                WORKER_NAME=f"irisq@worker{n}-{os.getpid()}",
                WORKER_METRICS_PORT="0",
            )
            for n, host in enumerate(worker_hosts, start=1)
        ]
        gateway = _start_on(
            stack,
            gateway_host,
            "gateway",
            command("gateway"),
            API_HOST=gateway_host.address,
            API_PORT=str(API_PORT),
            GRPC_PORT="0",
            TASK_REDELIVERY_SECONDS=str(TASK_REDELIVERY_SECONDS),
        )
        # A short path: a Unix socket's path has at most 107 bytes.
        socket_path = tmp_path / "client.sock"
        forwarder = _start_on(stack, client_host, "client", [
            sys.executable, "-m", "tests.support.netns",
            str(socket_path), gateway_host.address, str(API_PORT),
        ])  # fmt: skip
        wait_until(socket_path.exists, 15, "the client host's forwarder")
        for worker in workers:
            _wait_for_line(worker, "ready.", 60)
        here = Site(network, stack, socket_path, gateway_host, redis_host, password,
                    worker_hosts, gateway, workers)  # fmt: skip
        with here.client(timeout=5) as http:
            wait_until(lambda: http.get("/ready").status_code == 200, 60, "the gateway ready")
        assert forwarder.alive()
        yield here
    finally:
        # Processes first: one still inside a namespace would keep it alive, unnamed.
        discard_stack(stack)
        network.close()


@dataclass
class Answer:
    kind: str
    status: int  # 0: no answer at all (a transport error)
    started: float
    ended: float
    content_type: str
    body: str


@dataclass
class Submitted:
    """An async job the gateway accepted (202), with the items it was sent."""

    job_id: str
    items: list[dict[str, float]]
    accepted: float  # time.monotonic() of the 202


@dataclass
class Load(LoadThreads):
    """Client threads on the client host sending `kinds` in turn; every answer is kept.

    async: 3 fresh items with `Prefer: respond-async` (a 202 and a job id); job: a read of the
    latest accepted job; sync: one fresh item, waited for; cached: an item the cache holds.
    """

    site: Site
    kinds: Sequence[str]
    threads: int = 3
    # Between two requests of a thread: a steady stream, light on a 2-core machine.
    pause: float = 0.03
    answers: list[Answer] = field(default_factory=list)
    submitted: list[Submitted] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: list[threading.Thread] = field(default_factory=list)

    def _send(self, http: httpx.Client, kind: str) -> tuple[httpx.Response, list[Any]]:
        if kind == "job":
            with self._lock:
                latest = self.submitted[-1].job_id
            return http.get(f"/jobs/{latest}"), []
        if kind == "sync":
            body = {"items": [fresh_item()]}
            return http.post(f"/predict?wait={SYNC_WAIT_SECONDS}", json=body), []
        if kind == "cached":
            return http.post("/predict", json={"items": [SETOSA]}), []
        items = [fresh_item() for _ in range(3)]
        response = http.post("/predict", json={"items": items}, headers={"Prefer": "respond-async"})
        return response, items

    def _run(self, n: int) -> None:
        kinds = itertools.islice(itertools.cycle(self.kinds), n, None)
        with self.site.client() as http:
            while not self._stop.is_set():
                kind = next(kinds)
                with self._lock:
                    if kind == "job" and not self.submitted:
                        kind = "async"  # no job to read yet
                started = time.monotonic()
                try:
                    response, items = self._send(http, kind)
                except httpx.TransportError as exc:
                    answer = Answer(kind, 0, started, time.monotonic(), "", repr(exc))
                else:
                    answer = Answer(
                        kind,
                        response.status_code,
                        started,
                        time.monotonic(),
                        response.headers.get("content-type", ""),
                        response.text,
                    )
                    if items and response.status_code == 202:
                        with self._lock:
                            job_id = response.json()["job_id"]
                            self.submitted.append(Submitted(job_id, items, time.monotonic()))
                with self._lock:
                    self.answers.append(answer)
                self._stop.wait(self.pause)

    def statuses(self, since: float = 0.0) -> Counter[int]:
        """Statuses of the requests begun at `since` (time.monotonic()) or later."""
        with self._lock:
            return Counter(a.status for a in self.answers if a.started >= since)

    def jobs(self) -> list[Submitted]:
        with self._lock:
            return list(self.submitted)


def _count(pattern: re.Pattern[str], text: str) -> int:
    return len(pattern.findall(text))


def _redelivered(http: httpx.Client) -> float:
    return metric(http, "irisq_tasks_redelivered_total")


def _submit(http: httpx.Client) -> Submitted:
    items = [fresh_item() for _ in range(3)]
    response = http.post("/predict", json={"items": items}, headers={"Prefer": "respond-async"})
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "respond-async"
    return Submitted(response.json()["job_id"], items, time.monotonic())


def _assert_each_job_done_with_each_item_once(http: httpx.Client, jobs: list[Submitted]) -> None:
    """Every job done; its items are its request's, each once, in order, and each is the
    model's answer for that item (as the cache, filled by the same write, gives it)."""
    answered: list[tuple[dict[str, float], dict[str, Any]]] = []
    for job in jobs:
        view = wait_for_job(http, job.job_id, timeout=60, poll=0.2)
        assert view["status"] == "done", view
        assert len(view["items"]) == len(job.items), view
        assert not any(item["cached"] for item in view["items"]), view
        answered += zip(job.items, view["items"], strict=True)
    for start in range(0, len(answered), 10):  # CACHE_MAX_ITEMS: looked up in the cache
        chunk = answered[start : start + 10]
        again = http.post("/predict", json={"items": [item for item, _ in chunk]})
        assert again.status_code == 200, again.text
        for (_, first), cached in zip(chunk, again.json()["items"], strict=True):
            assert cached["cached"], cached
            assert cached["prediction"] == first["prediction"]
            assert cached["probabilities"] == first["probabilities"]


def test_a_worker_cut_off_mid_task_loses_no_job_and_rejoins_when_its_link_returns(
    site: Site,
) -> None:
    cut_worker, other = site.workers
    cut_host = site.worker_hosts[0]
    with site.client() as http, Load(site, kinds=("async", "job")) as load:
        wait_until(
            lambda: min(_count(TASK_DONE, w.log()) for w in site.workers) >= 3,
            30,
            "both workers taking tasks",
        )
        assert _redelivered(http) == 0

        site.network.cut(cut_host)
        cut_at = time.monotonic()
        # Under a steady stream the cut worker holds a task, or its pending pop takes the next
        # one off the queue, whose answer never reaches it: either way a task goes unanswered.
        wait_until(lambda: _redelivered(http) >= 1, 20, "a task the cut worker took sent again")
        sent_again_after = time.monotonic() - cut_at
        time.sleep(max(0.0, cut_at + WORKER_CUT_SECONDS - time.monotonic()))
        during_cut = len(load.jobs())

        rejoin_mark = len(cut_worker.log())
        site.network.restore(cut_host)
        restored_at = time.monotonic()
        wait_until(
            lambda: _count(TASK_DONE, cut_worker.log()[rejoin_mark:]) >= 3,
            45,
            "the cut worker taking tasks again",
        )
        rejoined_after = time.monotonic() - restored_at
        redelivered = _redelivered(http)

    # The other worker leaves: the jobs sent from now on reach the one that was cut only.
    site.stack.stop(other)
    alone_mark = len(cut_worker.log())
    with site.client() as http:
        late = [_submit(http) for _ in range(10)]
        jobs = load.jobs() + late
        _assert_each_job_done_with_each_item_once(http, jobs)
    assert _count(TASK_DONE, cut_worker.log()[alone_mark:]) >= 1

    statuses = Counter(a.status for a in load.answers)
    assert set(statuses) <= {200, 202}, [a for a in load.answers if a.status not in (200, 202)]
    sent_again = set(SENT_AGAIN.findall(site.gateway.log()))
    skipped = set(TASK_SKIPPED.findall(cut_worker.log()[rejoin_mark:])) & sent_again
    print(
        f"\n{len(jobs)} jobs accepted ({during_cut} by the end of the cut), all done; "
        f"{redelivered:.0f} tasks sent again (first {sent_again_after:.1f}s after the cut); "
        f"the cut worker took tasks again {rejoined_after:.1f}s after its link returned; "
        f"{len(skipped)} task(s) it received late found their jobs done; answers {dict(statuses)}"
    )


def test_a_gateway_cut_off_from_redis_answers_503_then_recovers_by_itself(site: Site) -> None:
    gateway_pid = site.gateway.pid
    kinds = ("async", "job", "sync", "cached")
    # More clients than the worker test's: on the cut each waits seconds for its 503.
    with site.client() as http, Load(site, kinds=kinds, threads=6, pause=0.06) as load:
        wait_until(lambda: load.statuses()[200] >= 30, 30, "load under way")

        site.network.cut(site.redis_host)
        cut_at = time.monotonic()
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"].startswith("unreachable"), ready.text
        # A request that needs Redis now fails once its call and one retry time out.
        wait_until(lambda: load.statuses(since=cut_at)[503] >= 5, 15, "503s during the cut")
        time.sleep(max(0.0, cut_at + REDIS_CUT_SECONDS - time.monotonic()))

        site.network.restore(site.redis_host)
        restored_at = time.monotonic()
        wait_ready(http, 45, "ready after the link returned")
        ready_after = time.monotonic() - restored_at
        wait_until(
            lambda: load.statuses(since=restored_at)[200] >= 30,
            30,
            "answers after the cut",
        )

    assert site.gateway.alive(), "the gateway died"
    assert site.gateway.pid == gateway_pid, "the gateway was restarted"
    answers = load.answers
    # Where Redis is, and its password: never in an answer.
    hidden = [site.redis_host.address, site.redis_password]
    assert all(a.status != 500 for a in answers), "a 500 during the cut"
    assert all(a.status != 0 for a in answers), [a for a in answers if a.status == 0][:3]
    for answer in answers:
        assert answer.status in (200, 202, 503), answer
        assert answer.ended - answer.started < DEADLINE_SECONDS, answer
        if answer.status == 503:
            # Each 503 overlaps the cut: it ends after the link went down and begins before
            # it returned.
            assert answer.ended > cut_at, answer
            assert answer.started < restored_at + RECOVERY_GRACE_SECONDS, answer
            assert answer.content_type.startswith("application/problem+json"), answer
            assert not internals_in(answer.body, hidden), answer
    # Requests are answered while the link is down, and none succeeds: every one here needs
    # Redis. (One begun on the cut may still succeed after it, once its call gets through.)
    answered_in_cut = Counter(a.status for a in answers if cut_at + 0.5 < a.ended < restored_at)
    assert set(answered_in_cut) == {503}, answered_in_cut
    first_2xx = min(a.ended for a in answers if a.started >= restored_at and a.status in (200, 202))
    # The workers are back too: sync requests after the cut were answered with their result.
    synced = [a for a in answers if a.kind == "sync" and a.started > restored_at]
    assert any(a.status == 200 for a in synced), Counter(a.status for a in synced)

    # No accepted job is lost, nor failed: a task a worker held when the link went down
    # leaves its jobs open (worker/failures.py, store_lost), and the gateway sends it again.
    ends: Counter[str] = Counter()
    with site.client() as http:
        for job in load.jobs():
            view = wait_for_job(http, job.job_id, timeout=60, poll=0.2)
            ends[view["status"]] += 1
    assert set(ends) == {"done"}, ends
    print(
        f"\nRedis cut {restored_at - cut_at:.1f}s: {answered_in_cut[503]} answers meanwhile, "
        f"all 503; first 2xx {first_2xx - restored_at:.1f}s and /ready 200 "
        f"{ready_after:.1f}s after the link returned; async jobs {dict(ends)}; "
        f"answers {dict(Counter(a.status for a in answers))}"
    )
