"""HTTP metrics label each request with its route's template, matched by public API."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from gateway.metrics import HttpMetricsMiddleware, Metrics


def test_requests_are_labelled_by_template_a_wrong_method_by_its_route_and_the_rest_unmatched() -> (
    None
):
    metrics = Metrics()
    app = FastAPI()
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)

    @app.get("/jobs/{job_id}")
    async def job(job_id: str) -> dict[str, str]:
        return {"job_id": job_id}

    async def requests() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                (await client.get("/jobs/abc")).status_code,
                (await client.get("/jobs/def")).status_code,
                (await client.post("/jobs/abc")).status_code,
                (await client.get("/nowhere/at/all")).status_code,
            ]

    assert asyncio.run(requests()) == [200, 200, 405, 404]

    def count(method: str, route: str, status: str) -> float | None:
        return metrics.registry.get_sample_value(
            "http_requests_total", {"method": method, "route": route, "status": status}
        )

    assert count("GET", "/jobs/{job_id}", "200") == 2
    assert count("POST", "/jobs/{job_id}", "405") == 1
    assert count("GET", "unmatched", "404") == 1
