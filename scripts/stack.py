"""The local, Docker-free stack: the same service commands the containers run.

Used by `make run` (scripts/run_local.py), by the tests' fixtures and by the benchmark.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import redis
from prometheus_client.multiprocess import mark_process_dead

# One source for each service's command: the Dockerfiles' CMDs are checked against these.
SERVICE_COMMANDS: dict[str, list[str]] = {
    "gateway": ["python", "-m", "gateway"],
    "worker": ["python", "-m", "worker"],
    "train": ["python", "-m", "worker.train"],
}

ROOT = Path(__file__).resolve().parent.parent
# As compose's Redis: a job record of up to CACHE_MAX_ITEMS (10) items stays a compact
# listpack (~410 bytes for one item instead of ~760 as a hash table), so a memory cap keeps
# about twice as many (docs/sizing.md, the sizing rule).
RECORD_ENCODING = ["--hash-max-listpack-value", "2048"]


def worker_targets_dir(workdir: Path) -> Path:
    """Where a stack's workers announce themselves to its Prometheus (worker.discovery)."""
    return workdir / "prometheus" / "workers"


def command(service: str) -> list[str]:
    """The service's command, run with this interpreter (the project's virtualenv)."""
    return [sys.executable, *SERVICE_COMMANDS[service][1:]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could not listen on host:port (something else holds it)."""
    with socket.socket() as s:
        # As the servers themselves bind: a connection lingering in TIME_WAIT is no clash.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen()
        except OSError:
            return True
        return False


def redis_answers(url: str) -> bool:
    try:
        with redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@dataclass
class Service:
    """A process in a session (and so a process group) of its own, stopped by its pid.

    `start()` may be called again once the process has exited: the same service restarts,
    appending to the same log. `output()` is what the current process wrote, so readiness is
    judged from this start's lines, never from an older run's.
    """

    name: str
    argv: list[str]
    env: Mapping[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    _log_offset: int = 0

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._log_offset = log.tell()
        self.popen = subprocess.Popen(
            self.argv,
            env=dict(self.env),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.started_at = time.monotonic()
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: signal.Signals, group: bool = True) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                if group:
                    os.killpg(self.pid, sig)
                else:
                    os.kill(self.pid, sig)

    def kill_group(self) -> None:
        """SIGKILL the whole group, also after its leader exited (a prefork pool it left)."""
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)

    def terminate(self) -> None:
        """Ask the main process to stop (SIGTERM), as docker stop does; wait with `stopped`."""
        self.signal(signal.SIGTERM, group=False)

    def stopped(self, deadline: float) -> int | None:
        """Wait for the process until `deadline` (monotonic), then SIGKILL its whole group."""
        if self.popen is None:
            return None
        try:
            self.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill_group()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(5)
        # Children a dead parent left behind (prefork pool) go with the group.
        self.kill_group()
        return self.popen.returncode

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL the whole group after `timeout`."""
        self.terminate()
        return self.stopped(time.monotonic() + timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def output(self) -> str:
        """What the current process has logged since it started (not earlier runs' lines)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")


@dataclass
class LocalStack:
    """Redis (optional), workers and a gateway on 127.0.0.1, each a real process."""

    workdir: Path
    redis_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    # The gateway's gRPC face (gateway/grpc_face.py): a port of its own per stack, so stacks
    # side by side never contend for the default 8001.
    grpc_port: int = field(default_factory=free_port)
    model_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    redis_url: str | None = None
    services: list[Service] = field(default_factory=list)
    redis_server: Service | None = None
    _worker_count: int = 0

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.model_dir = self.model_dir or self.workdir / "model"
        self.redis_url = self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def worker_targets_dir(self) -> Path:
        return worker_targets_dir(self.workdir)

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "API_"))}
        env.update(
            REDIS_URL=str(self.redis_url),
            API_PORT=str(self.api_port),
            GRPC_PORT=str(self.grpc_port),
            MODEL_DIR=str(self.model_dir),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def _service(self, name: str, argv: list[str], **env: str) -> Service:
        service = Service(name, argv, self.env(**env), self.workdir / "logs" / f"{name}.log")
        self.services.append(service)
        return service.start()

    # --- parts --------------------------------------------------------------------------

    def train_if_missing(self) -> None:
        """A default model where the registry serves none (docs/models.md)."""
        assert self.model_dir is not None
        # served.json: worker/registry.py's record of the served version.
        served = self.model_dir / "served.json"
        if not (self.model_dir / "model_metadata.json").exists() and not served.exists():
            subprocess.run(command("train"), env=self.env(), cwd=ROOT, check=True)

    def start_redis(
        self, password: str | None = None, append_only: bool = False, maxmemory: str | None = None
    ) -> Service:
        """redis-server on redis_port; `password` needs a matching redis_url.

        `append_only` keeps its data across a restart (as compose's Redis does). `maxmemory`
        (e.g. "256mb") bounds its memory; None leaves it unbounded.
        """
        data = self.workdir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        # The password goes in a config file, never on the command line (ps shows that).
        config = data / "redis.conf"
        config.write_text(f"requirepass {password}\n" if password else "")
        config.chmod(0o600)
        argv = [
            "redis-server", str(config), "--port", str(self.redis_port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes" if append_only else "no", "--dir", str(data),
            # As compose's Redis: job records carry no TTL, so only cache entries are evicted.
            "--maxmemory-policy", "volatile-lru",
            *RECORD_ENCODING,
        ]  # fmt: skip
        if maxmemory is not None:
            argv += ["--maxmemory", maxmemory]
        self.redis_server = self._service("redis", argv)
        wait_until(lambda: redis_answers(str(self.redis_url)), 10, "redis-server")
        return self.redis_server

    def stop_redis(self) -> None:
        if self.redis_server is not None:
            self.redis_server.stop()
            self.services.remove(self.redis_server)
            self.redis_server = None

    def start_worker(self, wait_ready: bool = True, **env: str) -> Service:
        self._worker_count += 1
        name = f"worker{self._worker_count}"
        # The exporter labels workers by the part after "@": make it unique per worker, as the
        # container host name is per replica. Each worker serves its metrics on a port of its own.
        env.setdefault("WORKER_NAME", f"irisq@{name}-{os.getpid()}")
        env.setdefault("WORKER_METRICS_PORT", str(free_port()))
        # Each worker writes its own entry for Prometheus' discovery, and removes it at exit.
        env.setdefault("WORKER_TARGETS_DIR", str(self.worker_targets_dir))
        worker = self._service(name, command("worker"), **env)
        if wait_ready:
            wait_until(lambda: "ready." in worker.output() or not worker.alive(), 30, f"{name}")
            if not worker.alive():
                raise RuntimeError(f"{name} exited:\n{worker.output()[-3000:]}")
        return worker

    def start_gateway(self, name: str = "gateway", **env: str) -> Service:
        gateway = self._service(name, command("gateway"), **env)
        port = int(env.get("API_PORT", self.api_port))
        # Listening is the last step of its start (after the lifespan), and shows whether this
        # process took the port, whichever process answers /health.
        wait_until(lambda: listening(gateway, port) or not gateway.alive(), 30, name)
        if not gateway.alive():
            raise RuntimeError(f"{name} exited:\n{gateway.output()[-3000:]}")
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health"), 30, name)
        return gateway

    @property
    def gateway_metrics_dir(self) -> Path:
        """Where gateway processes sharing the API port keep their metric files."""
        return self.workdir / "gateway-metrics"

    def start_gateways(self, count: int, **env: str) -> list[Service]:
        """`count` gateway processes on the one API (and gRPC) port, as `make run GATEWAYS=N`
        runs them: the kernel spreads connections among them (REUSE_PORT), and /metrics sums
        their metric files, whichever answers it. One process runs as it always does."""
        if count == 1:
            return [self.start_gateway(**env)]
        directory = self.gateway_metrics_dir
        # Files of an earlier run would be summed into this one's counts.
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        env = {"REUSE_PORT": "true", "PROMETHEUS_MULTIPROC_DIR": str(directory), **env}
        return [self.start_gateway(f"gateway{i}", **env) for i in range(1, count + 1)]

    def stop(self, service: Service, timeout: float = 15.0) -> int | None:
        if service in self.services:
            self.services.remove(service)
        return service.stop(timeout)

    def stop_all(self, timeout: float = 15.0) -> None:
        """Stop every service within about `timeout` s, Redis last; SIGKILL what lingers.

        All but Redis are asked at once (a Celery worker takes 3-4 s to stop): the gateway
        and the workers still reach Redis while they hand back or send their jobs.
        """
        redis_server = [s for s in self.services if s is self.redis_server]
        for tier in ([s for s in self.services if s is not self.redis_server], redis_server):
            deadline = time.monotonic() + timeout
            for service in tier:
                service.terminate()
            for service in tier:
                service.stopped(deadline)
                self.services.remove(service)
        self.redis_server = None

    def kill_all(self) -> None:
        """SIGKILL every service's process group now, without waiting (a stop cut short)."""
        for service in list(self.services):
            service.kill_group()

    def restart(self, service: Service) -> Service:
        """Start an exited service again, after killing whatever its group left behind."""
        service.kill_group()
        if service.popen is not None:
            service.popen.wait(5)
            # A gateway that died without stopping leaves its gauges in the shared metric
            # files: they leave the live sums now (its counts stay in the totals).
            if metrics_dir := service.env.get("PROMETHEUS_MULTIPROC_DIR"):
                mark_process_dead(service.popen.pid, metrics_dir)  # type: ignore[no-untyped-call]
        return service.start()


def listening(service: Service, port: int) -> bool:
    """Whether the service's own process listens on TCP `port` (read from /proc: Linux)."""
    try:
        fds = Path(f"/proc/{service.pid}/fd").iterdir()
        sockets = {os.readlink(fd) for fd in fds if os.readlink(fd).startswith("socket:")}
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows)  # the header
            for row in rows:
                fields = row.split()
                # local address "ADDR:PORT" (hex), state 0A = LISTEN, then the socket's inode.
                local, state, inode = fields[1], fields[3], fields[9]
                ours = state == "0A" and f"socket:[{inode}]" in sockets
                if ours and int(local.rsplit(":", 1)[1], 16) == port:
                    return True
    return False


def http_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (local URL)
        return bool(response.status == 200)
