"""`make run`: the whole system on this machine, no Docker.

Each service that exits is restarted with backoff, as compose's `restart:` policy would; Ctrl-C,
SIGTERM or SIGHUP (the terminal closing) stops everything it started, and a second signal kills
what is still stopping.

The supervision is a small loop of its own rather than honcho, circus or supervisord: honcho
stops every process when one exits and never restarts; supervisord and circus run a daemon of
their own from configuration files, so they could not check this run's ports before starting,
judge readiness from this run's output, or share scripts/stack.py's start-up code with the
tests' fixtures and the benchmark.

Redis is a redis-server of its own on IRISQ_REDIS_PORT, unless REDIS_URL, REDIS_HOST or
REDIS_PORT names one: whatever answers at the services' default, 127.0.0.1:6379, is often a
server other programs share, and the stack writes its cache, job records and queue into it.
The URL of its own goes in the run directory, where `make worker` finds it.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract.settings import SharedSettings
from gateway.settings import Settings
from scripts.frontend import DEFAULT_PORT as FRONTEND_PORT
from scripts.frontend import frontend_built, start_frontend
from scripts.monitoring import EXPORTER_PYTHON, start_exporter, start_prometheus, ui_page
from scripts.stack import ROOT, LocalStack, Service, port_in_use, redis_answers

# A service that keeps exiting waits twice as long each time, up to the bound; one that ran
# for STABLE_SECONDS counts as healthy again, so a rare crash is restarted after a second.
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 30.0
# How long the services get to stop by themselves (a Celery worker takes 3-4 s) before their
# process groups are killed.
STOP_TIMEOUT_SECONDS = 15.0

log = logging.getLogger("irisq.run")


class RunSettings(BaseSettings):
    """What `make run` itself reads from the environment (the services read their own)."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    workers: int = 2
    # Gateway processes on the one API port (REUSE_PORT; /metrics sums them all).
    gateways: int = Field(default=1, ge=1)
    model_dir: Path = ROOT / "model"
    # Logs, Redis's directory and Prometheus's data of this run.
    irisq_run_dir: Path = ROOT / ".run"
    # The redis-server it starts when the environment names no Redis: a port of irisq's own,
    # checked free like the others, so that it never meets a shared server on 6379.
    irisq_redis_port: int = 6390
    celery_exporter_port: int = 9808
    prometheus_port: int = 9090
    frontend_port: int = FRONTEND_PORT
    # As compose's Redis: a bound, and only cache entries (the keys with a TTL) are evicted.
    redis_maxmemory: str = "256mb"


# The settings that name a Redis to use instead of a redis-server of `make run`'s own.
REDIS_VARIABLES = ("redis_url", "redis_host", "redis_port")


def given_redis(settings: SharedSettings) -> list[str]:
    """Which of REDIS_URL, REDIS_HOST and REDIS_PORT the environment sets.

    An empty REDIS_URL names nothing: the services then read REDIS_HOST and REDIS_PORT.
    """
    return [
        name.upper()
        for name in REDIS_VARIABLES
        if name in settings.model_fields_set and (name != "redis_url" or settings.redis_url)
    ]


def redis_url_note(run_dir: Path) -> Path:
    """Where a running `make run` notes the URL of its own redis-server, for `make worker`."""
    return run_dir / "redis-url"


def shown_url(url: str) -> str:
    """The URL for messages: without the password, or the query (it may carry one)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class StartupError(Exception):
    """The stack cannot start as asked (a port in use, a service that does not come up)."""


class StopRequested(Exception):
    """A signal asked the stack to stop."""


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP stop the stack once; a signal while it stops kills it."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.stopping = False

    def install(self) -> None:
        # Installed for SIGINT too: a shell starting us in the background would have it ignored.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stopping:
            # Never raise here: an exception inside stop_all would abandon the services
            # not yet stopped. Killing their groups ends the wait for them instead.
            log.warning("%s while stopping: killing every service now", name)
            self.stack.kill_all()
            return
        self.stopping = True
        raise StopRequested(name)


@dataclass
class Backoff:
    """One service's restart state: its exits in a row, and when it starts again."""

    exits: int = 0
    due: float | None = None


def supervise(stack: LocalStack) -> None:
    """Restart each service that exits, with backoff; returns only through an exception."""
    backoffs: dict[str, Backoff] = {}
    while True:
        now = time.monotonic()
        for service in list(stack.services):
            if service.alive():
                continue
            backoff = backoffs.setdefault(service.name, Backoff())
            if backoff.due is None:
                ran = now - service.started_at
                backoff.exits = 1 if ran >= STABLE_SECONDS else backoff.exits + 1
                delay = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (backoff.exits - 1))
                backoff.due = now + delay
                log.warning(
                    "%s exited (%s) after %.0fs; restarting it in %.0fs (log: %s)",
                    service.name,
                    _exit_status(service),
                    ran,
                    delay,
                    service.log_path,
                )
            elif now >= backoff.due:
                backoff.due = None
                stack.restart(service)
                log.warning("restarted %s (pid %d)", service.name, service.pid)
        time.sleep(0.2)


def _exit_status(service: Service) -> str:
    code = service.popen.returncode if service.popen is not None else None
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def check_ports(ports: list[tuple[str, str, int]], host: str = "127.0.0.1") -> None:
    """Refuse to start when a port this run needs is taken (an old `make run`, say)."""
    taken = [
        f"port {port} ({what}, set {variable} to use another) is in use"
        for what, variable, port in ports
        if port_in_use(port, host)
    ]
    if taken:
        raise StartupError(
            "; ".join(taken) + ". Stop what holds it (`ss -ltnp` shows it) or choose a free port."
        )


def start(stack: LocalStack, run: RunSettings, settings: Settings, workers: int) -> str:
    """Start every service, after checking their ports; returns the summary to print."""
    given = given_redis(settings)
    named = " and ".join(given)
    redis_url = shown_url(str(stack.redis_url))
    own_redis = not given
    if given:
        if not redis_answers(str(stack.redis_url)):
            raise StartupError(
                f"no Redis answers at {redis_url} ({named}); start it, or unset {named} "
                "for a redis-server of make run's own"
            )
        log.info("using the Redis at %s (%s)", redis_url, named)
        redis_line = f"  Redis     {redis_url} (given by {named})\n"
    elif shutil.which("redis-server") is None:
        raise StartupError("redis-server is not installed: apt-get install -y redis-server")
    else:
        redis_line = f"  Redis     {redis_url} (its own redis-server; set REDIS_URL for another)\n"
    grpc_line = (
        f"{settings.grpc_host}:{settings.grpc_port} (Open Inference Protocol)"
        if settings.grpc_port
        else "off (GRPC_PORT=0)"
    )
    gateways = f" ({run.gateways} gateway processes)" if run.gateways > 1 else ""
    exporter = EXPORTER_PYTHON.exists()
    prometheus = shutil.which("prometheus") is not None
    ui = frontend_built()
    # `make worker` finds its own Redis noted in the run directory, not one the environment names.
    worker_hint = f", with the same {named}" if given else ""
    ports = [("Redis", "IRISQ_REDIS_PORT", stack.redis_port)] if own_redis else []
    ports += [("exporter", "CELERY_EXPORTER_PORT", run.celery_exporter_port)] if exporter else []
    ports += [("Prometheus", "PROMETHEUS_PORT", run.prometheus_port)] if prometheus else []
    ports += [("UI", "FRONTEND_PORT", run.frontend_port)] if ui else []
    check_ports(ports)
    check_ports([("gateway", "API_PORT", settings.api_port)], settings.api_host)
    if settings.grpc_port:
        check_ports([("gateway's gRPC", "GRPC_PORT", settings.grpc_port)], settings.grpc_host)

    try:
        if own_redis:
            stack.start_redis(maxmemory=run.redis_maxmemory)
            log.info("started its own redis-server at %s", redis_url)
        for _ in range(workers):
            stack.start_worker()
        stack.start_gateways(run.gateways)
        monitoring = "".join(
            f"  {s.name:9} http://127.0.0.1:{s.env['WORKER_METRICS_PORT']}/metrics\n"
            for s in stack.services
            if s.name.startswith("worker")
        )
        if exporter:
            start_exporter(stack, run.celery_exporter_port)
            monitoring += f"  exporter  http://127.0.0.1:{run.celery_exporter_port}/metrics\n"
        else:
            monitoring += "  exporter  not installed: make monitoring-deps\n"
        if prometheus:
            exporter_port = run.celery_exporter_port if exporter else None
            start_prometheus(stack, run.prometheus_port, exporter_port)
            prometheus_url = f"http://127.0.0.1:{run.prometheus_port}"
            monitoring += (
                f"  Prometheus {ui_page(prometheus_url, 'targets')}"
                f"  alerts: {ui_page(prometheus_url, 'alerts')}\n"
            )
        else:
            monitoring += "  Prometheus not installed (apt-get install prometheus)\n"
        ui_line = "  UI        not built: make frontend-build\n"
        if ui:
            start_frontend(stack, run.frontend_port)
            ui_line = f"  UI        http://127.0.0.1:{run.frontend_port}\n"
    except (RuntimeError, TimeoutError) as exc:
        raise StartupError(str(exc)) from exc
    return (
        f"\nirisq is running ({workers} workers); logs in {stack.workdir / 'logs'}\n"
        f"{ui_line}"
        f"  API       {stack.base_url}{gateways}\n"
        f"  API docs  {stack.base_url}/docs\n"
        f"  gRPC      {grpc_line}\n"
        f"  metrics   {stack.base_url}/metrics\n"
        f"{redis_line}"
        f"{monitoring}"
        f"One more worker: `make worker` in another terminal{worker_hint}.\n"
        "A service that exits is restarted. Press Ctrl-C to stop.\n"
    )


def main() -> None:
    run = RunSettings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=run.workers)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    settings = Settings()  # the gateway's own view of REDIS_URL / REDIS_HOST:REDIS_PORT, API_PORT
    given = given_redis(settings)
    stack = LocalStack(
        workdir=run.irisq_run_dir,
        redis_port=settings.redis_port if given else run.irisq_redis_port,
        api_port=settings.api_port,
        grpc_port=settings.grpc_port,
        model_dir=run.model_dir,
        # None: the stack's own redis-server on redis_port.
        redis_url=settings.redis_dsn if given else None,
    )
    note = redis_url_note(run.irisq_run_dir)
    noted = False
    signals = StopSignals(stack)
    signals.install()
    status = 0
    try:
        stack.train_if_missing()
        summary = start(stack, run, settings, args.workers)
        if not given:
            noted = True
            note.write_text(f"{stack.redis_url}\n")
        print(summary, flush=True)
        supervise(stack)
    except StopRequested as stop:
        log.info("%s received", stop)
    except StartupError as exc:
        log.error("irisq did not start: %s", exc)
        status = 1
    finally:
        signals.stopping = True
        log.info("stopping")
        stack.stop_all(STOP_TIMEOUT_SECONDS)
        if noted:
            note.unlink(missing_ok=True)
        log.info("stopped")
    sys.exit(status)


if __name__ == "__main__":
    main()
