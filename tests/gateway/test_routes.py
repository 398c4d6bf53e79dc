"""The app's route table: every path operation sits flat on the app's own router.

`include_router` keeps the included router as a node that every request resolves through,
where a route on the app's router is matched directly, as `@app.post` would add it.
"""

from __future__ import annotations

from starlette.routing import Route

from gateway.app import create_app
from gateway.settings import Settings


def test_every_route_is_on_the_apps_own_router() -> None:
    app = create_app(Settings())
    paths = set()
    for route in app.router.routes:
        assert isinstance(route, Route), f"{route!r} is not a route of the app's own router"
        paths.add(route.path)
    assert {"/predict", "/jobs/{job_id}", "/model", "/health", "/ready", "/metrics"} <= paths
