"""The interactive API page (/docs), with Swagger UI's files served by the gateway itself.

FastAPI's own page loads Swagger UI from a CDN, so without internet it stays blank. Here the
page is the same (FastAPI's `get_swagger_ui_html`), but its script, style sheet and icon come
from the pinned `fastapi-offline` package (Swagger UI 5, which renders the OpenAPI 3.1 document
FastAPI writes), installed with the gateway like any other dependency: nothing is fetched at
run time. Only the package's files are used: its app factory would put its routes ahead of
the API's and serve its whole folder. fastapi-offline ships them without Swagger UI's licence,
so the gateway package carries it (gateway/swagger_ui/LICENSE, package data) and serves it
beside them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import FileResponse, HTMLResponse, Response

DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs/assets"
# The files the page loads, by name, with their media types; nothing else of the package is
# served (its ReDoc bundle is not used: FastAPI(redoc_url=None)).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
LICENSE_NAME = "LICENSE"
# swagger-ui-dist's LICENSE (Apache License 2.0), with a header naming the files it covers.
LICENSE_FILE = Path(__file__).with_name("swagger_ui") / LICENSE_NAME

Endpoint = Callable[[Request], Awaitable[Response]]


def bundled_asset(name: str) -> Path:
    """Where pip installed one of fastapi-offline's Swagger UI files."""
    return Path(str(files("fastapi_offline") / "static" / name))


def _file_endpoint(path: Path, media_type: str) -> Endpoint:
    async def serve_file(request: Request) -> Response:
        return FileResponse(path, media_type=media_type)

    return serve_file


def install_api_docs(app: FastAPI) -> None:
    """Adds /docs, its OAuth2 redirect page, and the files they load, to the app's routes.

    The app is built with `docs_url=None`; this is FastAPI's own /docs set-up, with local URLs.
    """
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the API page needs the app's OpenAPI document (openapi_url)")
    paths = {name: bundled_asset(name) for name in ASSETS}
    missing = sorted(name for name, path in paths.items() if not path.is_file())
    # A missing file means a blank page: refuse to start instead.
    if missing:
        raise RuntimeError(f"fastapi-offline has no {', '.join(missing)}: /docs cannot load")
    if not LICENSE_FILE.is_file():
        raise RuntimeError(f"{LICENSE_FILE} is missing: the gateway package is incomplete")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root_path: str = request.scope.get("root_path", "").rstrip("/")
        assets = root_path + ASSETS_URL
        return get_swagger_ui_html(
            openapi_url=root_path + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            oauth2_redirect_url=root_path + OAUTH2_REDIRECT_URL,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_route(DOCS_URL, swagger_ui, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_URL, oauth2_redirect, include_in_schema=False)
    for name, media_type in ASSETS.items():
        endpoint = _file_endpoint(paths[name], media_type)
        app.add_route(f"{ASSETS_URL}/{name}", endpoint, include_in_schema=False)
    licence = _file_endpoint(LICENSE_FILE, "text/plain; charset=utf-8")
    app.add_route(f"{ASSETS_URL}/{LICENSE_NAME}", licence, include_in_schema=False)
