"""Reading a Prometheus /metrics page: the gateway's or a worker's."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

# Every sample of a page, keyed by (sample name, labels).
Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> Samples:
    """Every sample of the /metrics page at `url`."""
    return parse(httpx.get(url, timeout=10).raise_for_status().text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 if there are none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def _page(http: httpx.Client) -> Samples:
    return parse(http.get("/metrics").raise_for_status().text)


def metric(http: httpx.Client, name: str, **labels: str) -> float:
    """`value` of one sample name on the /metrics page of the client's server."""
    return value(_page(http), name, **labels)


def by_label(http: httpx.Client, name: str, label: str) -> dict[str, float]:
    """The samples of `name` on the /metrics page of the client's server, by `label`'s value."""
    return {dict(ls)[label]: v for (n, ls), v in _page(http).items() if n == name}
