"""Helpers for the monitoring tests: scraping /metrics and starting workers with options."""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

from scripts.stack import LocalStack, Service, command, wait_until


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics page, keyed by (sample name, labels)."""
    text = httpx.get(url, timeout=10).raise_for_status().text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


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
