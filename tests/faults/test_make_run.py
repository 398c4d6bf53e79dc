"""`make run` (scripts/run_local.py) as a user meets it: signals, port clashes, crashed parts.

Each test runs the real `python -m scripts.run_local` in a session of its own, on free ports,
with its run directory under tmp_path. Every process it starts inherits a tag in its
environment, so the tests find them (and clean them up) by that tag, whoever their parent is.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from scripts.prometheus_api import PrometheusAPI
from scripts.run_local import redis_url_note
from scripts.stack import ROOT, LocalStack, free_port, port_in_use, wait_until, worker_targets_dir
from tests.support.items import fresh_item
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric, scrape, value

TAG = "IRISQ_MAKE_RUN_TEST"
# Generous: the machine's 2 cores are shared, and the stack starts up to six processes.
START_SECONDS = 120
# A stop asked for by a signal: the services' own stop (a worker takes 3-4 s) plus slack.
STOP_SECONDS = 40
PORT_NAMES = (
    "IRISQ_REDIS_PORT",
    "API_PORT",
    "GRPC_PORT",
    "CELERY_EXPORTER_PORT",
    "PROMETHEUS_PORT",
    "FRONTEND_PORT",
)
# A new worker file is applied within 5 s; its first scrape follows within the 15 s interval.
DISCOVERY_SECONDS = 60


def tagged(tag: str, redis_port: int) -> dict[int, str]:
    """pid -> command line of every live process of one run: its environment carries `tag`.

    redis-server writes its title over its environment, so it is known by that title instead.
    """
    redis_title = f"redis-server 127.0.0.1:{redis_port}"
    found = {}
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(process.cmdline()).strip()
            if process.environ().get(TAG) != tag and cmdline != redis_title:
                continue
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            found[process.pid] = cmdline
    return found


def _group_leader(pid: int) -> bool:
    with contextlib.suppress(ProcessLookupError):
        return os.getpgid(pid) == pid
    return False


def _has_env(pid: int, prefix: str) -> bool:
    with contextlib.suppress(psutil.Error):
        environ = psutil.Process(pid).environ()
        return any(f"{name}={value}".startswith(prefix) for name, value in environ.items())
    return False


@dataclass
class MakeRun:
    """One `python -m scripts.run_local`, its ports and its output."""

    workdir: Path
    env: dict[str, str]
    tag: str = field(default_factory=lambda: uuid.uuid4().hex)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def ports(self) -> dict[str, int]:
        return {name: int(self.env[name]) for name in PORT_NAMES}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['API_PORT']}"

    @property
    def own_redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.env['IRISQ_REDIS_PORT']}/0"

    @property
    def redis_note(self) -> Path:
        return redis_url_note(Path(self.env["IRISQ_RUN_DIR"]))

    @property
    def output_path(self) -> Path:
        return self.workdir / "make-run.out"

    def start(self) -> MakeRun:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.output_path.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "scripts.run_local"],
                cwd=ROOT,
                env={**self.env, TAG: self.tag},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def output(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""

    def wait_running(self) -> None:
        assert self.popen is not None
        try:
            wait_until(
                lambda: "irisq is running" in self.output() or self.popen.poll() is not None,  # type: ignore[union-attr]
                START_SECONDS,
                "irisq is running",
            )
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{self.output()[-3000:]}") from None
        assert self.popen.poll() is None, self.output()[-3000:]

    def signal(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        os.kill(self.popen.pid, sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.popen is not None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout}s:\n{self.output()[-3000:]}")

    def processes(self) -> dict[int, str]:
        return tagged(self.tag, self.ports["IRISQ_REDIS_PORT"])

    def service_pid(self, marker: str, env: str = "") -> int:
        """The one service (a group leader) whose command line contains `marker`.

        `env` narrows it to the one whose environment holds that prefix (a worker's name).
        """
        pids = [
            pid
            for pid, cmd in self.processes().items()
            if marker in cmd and _group_leader(pid) and (not env or _has_env(pid, env))
        ]
        assert len(pids) == 1, (marker, env, self.processes())
        return pids[0]

    def cleanup(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def make_run(tmp_path: Path, model_dir: Path) -> Iterator[MakeRun]:
    """A `make run` ready to start on free ports, one worker, nothing shared with others.

    No REDIS_URL, REDIS_HOST or REDIS_PORT: it starts its own Redis, on IRISQ_REDIS_PORT.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDIS_", "API_", "CELERY_", "PROMETHEUS_", "FRONTEND_"))
    }
    env.update({name: str(free_port()) for name in PORT_NAMES})
    env.update(
        WORKERS="1",
        MODEL_DIR=str(model_dir),
        IRISQ_RUN_DIR=str(tmp_path / "run"),
        PYTHONUNBUFFERED="1",
        # A task held by a killed worker comes back in seconds, not the production minute.
        VISIBILITY_TIMEOUT="5",
    )
    run = MakeRun(tmp_path, env)
    try:
        yield run
    finally:
        run.cleanup()


def assert_nothing_left(run: MakeRun) -> None:
    try:
        wait_until(lambda: not run.processes(), 10, "every process to go")
    except TimeoutError:
        raise AssertionError(f"left running: {run.processes()}") from None
    busy = {name: port for name, port in run.ports.items() if port_in_use(port)}
    assert not busy, f"ports still held: {busy}"


def started_services(run: MakeRun) -> dict[int, str]:
    procs = run.processes()
    assert run.popen is not None
    procs.pop(run.popen.pid)
    # Redis, a worker (with its pool process), the gateway, the exporter, Prometheus, the UI.
    for marker in ("redis-server", "-m worker", "-m gateway", "src.cli", "prometheus", "vite"):
        assert any(marker in cmd for cmd in procs.values()), (marker, procs)
    return procs


def test_sighup_stops_every_service_and_frees_the_ports(make_run: MakeRun) -> None:
    make_run.start().wait_running()
    started_services(make_run)

    make_run.signal(signal.SIGHUP)  # the terminal closing
    make_run.wait_exit(STOP_SECONDS)
    assert_nothing_left(make_run)


def test_a_second_sigint_while_stopping_leaves_nothing_behind(make_run: MakeRun) -> None:
    make_run.start().wait_running()
    started_services(make_run)

    make_run.signal(signal.SIGINT)
    wait_until(lambda: "stopping" in make_run.output(), 10, "the stop to begin")
    make_run.signal(signal.SIGINT)
    make_run.wait_exit(STOP_SECONDS)
    assert_nothing_left(make_run)


class _AnswersEverything(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def _environ(pid: int) -> dict[str, str]:
    return psutil.Process(pid).environ()


def _predict_lands_in(http: httpx.Client, url: str) -> None:
    """A prediction answered, and its cache entry written into the Redis at `url`."""
    with redis.Redis.from_url(url) as client:
        before = client.dbsize()
        assert http.post("/predict", json={"items": [fresh_item()]}).status_code == 200
        assert client.dbsize() > before


def test_make_run_starts_a_redis_of_its_own_and_names_it(make_run: MakeRun) -> None:
    make_run.start().wait_running()
    url = make_run.own_redis_url
    output = make_run.output()
    assert f"Redis     {url} (its own redis-server" in output, output[-3000:]
    make_run.service_pid("redis-server")  # on IRISQ_REDIS_PORT: tagged() knows it by that
    # `make worker` reads it there.
    assert make_run.redis_note.read_text().strip() == url
    # Every service is given it; the exporter as compose gives it, in CE_BROKER_URL.
    for marker in ("-m worker", "-m gateway"):
        assert _environ(make_run.service_pid(marker))["REDIS_URL"] == url
    assert _environ(make_run.service_pid("src.cli"))["CE_BROKER_URL"] == url
    with httpx.Client(base_url=make_run.base_url, timeout=30) as http:
        _predict_lands_in(http, url)

    make_run.signal(signal.SIGTERM)
    make_run.wait_exit(STOP_SECONDS)
    assert not make_run.redis_note.exists()
    assert_nothing_left(make_run)


def test_a_redis_url_given_is_used_and_no_redis_is_started(
    make_run: MakeRun, tmp_path: Path, model_dir: Path
) -> None:
    password = secrets.token_hex(16)
    port = free_port()
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    given = LocalStack(tmp_path / "given", redis_port=port, model_dir=model_dir, redis_url=url)
    try:
        server = given.start_redis(password=password)
        make_run.env["REDIS_URL"] = url
        make_run.start().wait_running()
        output = make_run.output()
        assert f"Redis     redis://127.0.0.1:{port}/0 (given by REDIS_URL)" in output, output
        assert password not in output
        started = make_run.processes()
        assert not any("redis-server" in cmd for cmd in started.values()), started
        assert not any(password in cmd for cmd in started.values()), "a password in `ps`"
        assert not make_run.redis_note.exists()
        assert _environ(make_run.service_pid("src.cli"))["CE_BROKER_URL"] == url
        with httpx.Client(base_url=make_run.base_url, timeout=30) as http:
            _predict_lands_in(http, url)

        make_run.signal(signal.SIGTERM)
        make_run.wait_exit(STOP_SECONDS)
        assert_nothing_left(make_run)
        assert server.alive(), "make run stopped a Redis it had not started"
    finally:
        given.stop_all()


def test_a_given_redis_that_does_not_answer_is_named_and_nothing_starts(
    make_run: MakeRun,
) -> None:
    port = free_port()
    make_run.env["REDIS_URL"] = f"redis://:not-shown@127.0.0.1:{port}/0"
    make_run.start()
    code = make_run.wait_exit(START_SECONDS)
    output = make_run.output()
    assert code != 0
    assert f"no Redis answers at redis://127.0.0.1:{port}/0 (REDIS_URL)" in output, output
    assert "not-shown" not in output
    assert "irisq is running" not in output
    assert_nothing_left(make_run)


def test_make_worker_without_a_make_run_names_no_redis_and_starts_nothing(
    tmp_path: Path,
) -> None:
    # Not the services' default, 127.0.0.1:6379: only the Redis a make run noted, or one named.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    env["IRISQ_RUN_DIR"] = str(tmp_path / "run")
    done = subprocess.run(
        [sys.executable, "-m", "scripts.add_worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "no `make run` with a Redis of its own is running" in done.stderr, done.stderr
    assert "starting worker" not in done.stdout


def test_a_port_in_use_is_named_before_anything_claims_to_run(make_run: MakeRun) -> None:
    port = make_run.ports["PROMETHEUS_PORT"]
    # An old Prometheus still serving: it answers the readiness check a new one would get.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _AnswersEverything)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        make_run.start()
        code = make_run.wait_exit(START_SECONDS)
    finally:
        server.shutdown()
        server.server_close()
    output = make_run.output()
    assert code != 0
    assert "irisq is running" not in output
    assert f"port {port} (Prometheus, set PROMETHEUS_PORT" in output, output[-3000:]
    assert_nothing_left(make_run)


def _submit_async(http: httpx.Client, count: int) -> list[str]:
    job_ids = []
    for _ in range(count):
        response = http.post(
            "/predict", json={"items": [fresh_item()]}, headers={"Prefer": "respond-async"}
        )
        assert response.status_code == 202, response.text
        job_ids.append(response.json()["job_id"])
    return job_ids


def test_a_killed_worker_is_restarted_and_every_job_ends(make_run: MakeRun) -> None:
    make_run.env["WORKERS"] = "2"
    # A task the killed worker had just popped is lost with it (docs/reliability.md, known
    # limits); its jobs end when the sweeper times them out.
    make_run.env["JOB_TIMEOUT_SECONDS"] = "20"
    make_run.start().wait_running()
    worker = make_run.service_pid("-m worker", "WORKER_NAME=irisq@worker1-")
    with httpx.Client(base_url=make_run.base_url, timeout=30) as http:
        before = _submit_async(http, 20)
        os.killpg(worker, signal.SIGKILL)  # the whole worker, as an OOM kill may take it
        # Long enough for Redis to see the dead worker's connections close: no job queued
        # from here on can reach it.
        time.sleep(1)
        after = _submit_async(http, 20)
        wait_until(lambda: "restarted worker1" in make_run.output(), 30, "worker1's restart")
        assert http.get("/health").status_code == 200
        ended = [wait_for_job(http, job_id, timeout=60) for job_id in before + after]
        timed_out = [job for job in ended if job["status"] == "failed"]
        assert all("JOB_TIMEOUT_SECONDS" in job["error"] for job in timed_out), timed_out
        # Only what the dying worker held can be lost (how many jobs its task carried depends
        # on how they coalesced): every job sent after its death completes.
        assert all(job["status"] == "done" for job in ended[len(before) :]), ended
    assert make_run.popen is not None
    assert make_run.popen.poll() is None
    assert make_run.service_pid("-m worker", "WORKER_NAME=irisq@worker1-") != worker


def test_a_killed_redis_is_restarted_and_the_stack_serves_again(make_run: MakeRun) -> None:
    make_run.start().wait_running()
    redis_server = make_run.service_pid("redis-server")
    with httpx.Client(base_url=make_run.base_url, timeout=30) as http:
        os.killpg(redis_server, signal.SIGKILL)
        wait_until(lambda: "restarted redis" in make_run.output(), 30, "Redis's restart")
        last: list[str] = []

        def predicts() -> bool:
            answer = http.post("/predict?wait=5", json={"items": [fresh_item()]})
            last[:] = [f"{answer.status_code} {answer.text}"]
            return answer.status_code == 200

        try:
            wait_until(predicts, 60, "POST /predict to answer again")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; last answer: {last}") from None
    assert make_run.popen is not None
    assert make_run.popen.poll() is None


def test_a_stale_ready_line_in_an_old_log_does_not_count(stack: LocalStack) -> None:
    stack.start_redis()
    old = stack.workdir / "logs" / "worker1.log"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text("[2024-01-01 00:00:00] celery@old ready.\n")
    worker = stack.start_worker()
    # start_worker returned because this worker said so, not because an older one had.
    assert worker.log().count("ready.") == 2, worker.log()[-3000:]


def _worker_targets(prometheus: PrometheusAPI) -> dict[str, dict[str, str]]:
    """The node name (label `worker`) of each discovered worker target -> its labels and health."""
    return {
        target["labels"]["worker"]: {**target["labels"], "health": target["health"]}
        for target in prometheus.targets()
        if target["labels"]["job"] == "worker"
    }


def _scraped_up(prometheus: PrometheusAPI, instance: str) -> bool:
    return prometheus.value(f'up{{job="worker", instance="{instance}"}}') == 1


def test_make_worker_is_scraped_by_prometheus_and_counted_by_the_exporter(
    make_run: MakeRun,
) -> None:
    """README's "Scaling workers": `make worker` beside `make run`, nothing edited by hand."""
    make_run.start().wait_running()
    prometheus = PrometheusAPI(f"http://127.0.0.1:{make_run.ports['PROMETHEUS_PORT']}")
    exporter = f"http://127.0.0.1:{make_run.ports['CELERY_EXPORTER_PORT']}/metrics"
    targets = worker_targets_dir(Path(make_run.env["IRISQ_RUN_DIR"]))
    # `make run`'s own worker is discovered the same way.
    wait_until(
        lambda: len(_worker_targets(prometheus)) == 1, DISCOVERY_SECONDS, "make run's worker"
    )
    (own,) = _worker_targets(prometheus)

    # As a user types it in a second terminal: the same environment, minus make's own.
    env = {k: v for k, v in make_run.env.items() if not k.startswith(("MAKE", "MFLAGS"))}
    output = (make_run.workdir / "make-worker.out").open("wb")
    extra = subprocess.Popen(
        ["make", "--no-print-directory", "worker"],
        cwd=ROOT,
        env={**env, TAG: make_run.tag},
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        try:
            wait_until(
                lambda: len(_worker_targets(prometheus)) == 2, DISCOVERY_SECONDS, "the new target"
            )
        except TimeoutError as exc:
            log = (make_run.workdir / "make-worker.out").read_text(errors="replace")
            raise AssertionError(f"{exc}; make worker said:\n{log[-3000:]}") from None
        said = (make_run.workdir / "make-worker.out").read_text(errors="replace")
        assert f"Redis {make_run.own_redis_url} (make run's" in said, said[-3000:]
        (name,) = set(_worker_targets(prometheus)) - {own}
        assert name.startswith("irisq@"), name
        instance = _worker_targets(prometheus)[name]["instance"]
        wait_until(lambda: _scraped_up(prometheus, instance), DISCOVERY_SECONDS, f"up for {name}")
        # The exporter labels a worker by its node name's part after "@".
        host = name.split("@", 1)[1]
        wait_until(
            lambda: value(scrape(exporter), "celery_worker_up", hostname=host) == 1,
            DISCOVERY_SECONDS,
            f"the exporter to count {host}",
        )
        assert len(list(targets.glob("*.json"))) == 2

        # Ctrl-C in its terminal: the worker stops and takes its target with it.
        os.killpg(extra.pid, signal.SIGINT)
        extra.wait(STOP_SECONDS)
        assert len(list(targets.glob("*.json"))) == 1
        wait_until(
            lambda: set(_worker_targets(prometheus)) == {own}, DISCOVERY_SECONDS, "the target to go"
        )
    finally:
        output.close()
        prometheus.close()
        if extra.poll() is None:
            os.killpg(extra.pid, signal.SIGKILL)
            extra.wait(10)


def test_gateways_2_runs_two_gateway_processes_on_one_port_and_restarts_a_killed_one(
    make_run: MakeRun,
) -> None:
    make_run.env["GATEWAYS"] = "2"
    make_run.start().wait_running()
    assert "(2 gateway processes)" in make_run.output()

    def gateways() -> set[int]:
        return {pid for pid, cmd in make_run.processes().items() if "-m gateway" in cmd}

    first = gateways()
    assert len(first) == 2
    with httpx.Client(base_url=make_run.base_url, timeout=30) as http:
        for _ in range(5):
            assert http.post("/predict", json={"items": [fresh_item()]}).status_code == 200
        # Counted once the answer is sent: give the last count its moment.
        time.sleep(0.5)
        os.kill(min(first), signal.SIGKILL)
        wait_until(lambda: len(gateways() - first) == 1 and len(gateways()) == 2, 30, "restart")
        # The port was served throughout by the other; the killed one's counts stay summed.
        for _ in range(5):
            assert http.post("/predict", json={"items": [fresh_item()]}).status_code == 200
        assert metric(http, "http_requests_total", route="/predict", status="200") == 10
        assert metric(http, "irisq_waiting_requests") == 0

    make_run.signal(signal.SIGTERM)
    make_run.wait_exit(STOP_SECONDS)
    assert_nothing_left(make_run)
