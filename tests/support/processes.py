"""What the tests know of the stack's processes: children, process groups and memory (psutil)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

from scripts.stack import LocalStack, free_port, wait_until
from tests.support.tools import system_tool

GONE = (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError)


def _live(process: psutil.Process) -> bool:
    return process.status() != psutil.STATUS_ZOMBIE


def process_group(pgid: int) -> list[int]:
    """Live pids whose process group is `pgid` (a Service's whole group)."""
    pids = []
    for process in psutil.process_iter():
        with contextlib.suppress(*GONE):
            if os.getpgid(process.pid) == pgid and _live(process):
                pids.append(process.pid)
    return sorted(pids)


def children(pid: int) -> list[int]:
    """Live direct children of `pid` (a prefork worker's pool processes)."""
    with contextlib.suppress(*GONE):
        return sorted(child.pid for child in psutil.Process(pid).children() if _live(child))
    return []


def rss_kib(pid: int) -> int:
    """Resident set size of one process (0 if it is gone)."""
    with contextlib.suppress(*GONE):
        return psutil.Process(pid).memory_info().rss // 1024
    return 0


def group_rss_kib(pgid: int) -> int:
    """Resident memory of a whole process group (a worker and its pool processes)."""
    return sum(rss_kib(pid) for pid in process_group(pgid))


def discard_stack(local: LocalStack) -> None:
    """Kill what still runs once a test is over. A test that checks a graceful stop asks for
    one itself; at teardown a Celery worker's warm shutdown (2-3 s) would check nothing."""
    running = list(local.services)
    local.kill_all()
    for service in running:
        if service.popen is not None:
            service.popen.wait(10)


def new_stack(workdir: Path, model_dir: Path) -> LocalStack:
    """A stack on free ports of its own, in `workdir`; nothing started yet."""
    system_tool("redis-server", "system-deps")
    return LocalStack(
        workdir=workdir, redis_port=free_port(), api_port=free_port(), model_dir=model_dir
    )


@contextlib.contextmanager
def started_stack(workdir: Path, model_dir: Path, **gateway_env: str) -> Iterator[LocalStack]:
    """Redis, one worker and the gateway (with `gateway_env`), discarded on the way out."""
    local = new_stack(workdir, model_dir)
    try:
        local.start_redis()
        local.start_worker()
        local.start_gateway(**gateway_env)
        yield local
    finally:
        discard_stack(local)


def wait_ready(http: httpx.Client, timeout: float, what: str) -> None:
    """Until the gateway's /ready answers 200; failing, the last answer says which check."""
    last: list[str] = []

    def ready() -> bool:
        answer = http.get("/ready")
        last[:] = [answer.text]
        return answer.status_code == 200

    try:
        wait_until(ready, timeout, what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; last /ready: {last}") from None
