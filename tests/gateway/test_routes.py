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


def test_openapi_documents_every_v2_route_with_its_error_form() -> None:
    document = create_app(Settings()).openapi()
    paths = document["paths"]
    operations = {
        ("get", "/v2"),
        ("get", "/v2/health/live"),
        ("get", "/v2/health/ready"),
        ("get", "/v2/models/{name}"),
        ("get", "/v2/models/{name}/versions/{version}"),
        ("get", "/v2/models/{name}/ready"),
        ("get", "/v2/models/{name}/versions/{version}/ready"),
        ("post", "/v2/models/{name}/infer"),
        ("post", "/v2/models/{name}/versions/{version}/infer"),
    }
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert operations <= documented
    infer = paths["/v2/models/{name}/infer"]["post"]
    schema = infer["requestBody"]["content"]["application/json"]["schema"]
    assert "inputs" in schema["properties"]
    error = infer["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/InferenceErrorBody"}
    assert {"400", "404", "413", "503", "504"} <= set(infer["responses"])
