"""Workers started in ways LocalStack does not: with Celery options, or on a model to refuse."""

from __future__ import annotations

import os
from pathlib import Path

from scripts.stack import LocalStack, Service, command, wait_until
from worker.celery_app import REFUSED_EXIT_CODE


def start_worker_with_args(stack: LocalStack, name: str, args: list[str], **env: str) -> Service:
    """A worker with extra Celery options (LocalStack.start_worker passes environment only)."""
    env.setdefault("WORKER_NAME", f"{name}-{os.getpid()}@%h")
    service = Service(
        name, [*command("worker"), *args], stack.env(**env), stack.workdir / "logs" / f"{name}.log"
    )
    stack.services.append(service)
    service.start()
    wait_until(lambda: "ready." in service.log() or not service.alive(), 30, name)
    if not service.alive():
        raise RuntimeError(f"{name} exited:\n{service.log()[-3000:]}")
    return service


def refusal_line(stack: LocalStack, model: Path) -> str:
    """Start a worker on `model`: it must exit 78 and never say it is ready. Its one refusal."""
    worker = stack.start_worker(wait_ready=False, MODEL_DIR=str(model))
    assert worker.popen is not None
    assert worker.popen.wait(timeout=30) == REFUSED_EXIT_CODE
    log = worker.log()
    assert "ready." not in log
    assert "Traceback" not in log
    assert "Signal handler" not in log  # Celery's note that a start-up handler raised
    refusals = [line for line in log.splitlines() if "refusing to start" in line]
    assert len(refusals) == 1, log
    return refusals[0]
