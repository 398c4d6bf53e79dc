"""/docs needs no internet: its page loads only files the gateway serves itself.

The app is called in-process without its lifespan: the page and its files need neither Redis
nor a worker. tests/e2e/test_api_docs_offline.py drives the page in a browser.
"""

from __future__ import annotations

import asyncio
import re

import httpx

from gateway.app import create_app
from gateway.settings import Settings

# Every URL the page names: attributes, and the OpenAPI document's in the inline script.
PAGE_URL = re.compile(r"""(?:src|href)="([^"]*)"|url: '([^']*)'""")
ASSET_TYPES = {
    "/docs/assets/swagger-ui-bundle.js": "text/javascript",
    "/docs/assets/swagger-ui.css": "text/css",
    "/docs/assets/favicon.png": "image/png",
}
# Swagger UI writes its own version into the bundle; 4.x cannot render OpenAPI 3.1.
SWAGGER_UI_MAJOR = re.compile(rb'PACKAGE_VERSION:"(\d+)\.')


def get(*paths: str) -> list[httpx.Response]:
    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(Settings()))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(fetch())


def test_the_docs_page_names_only_the_gateways_own_urls() -> None:
    [page] = get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    urls = {attribute or script for attribute, script in PAGE_URL.findall(page.text)}
    assert urls == {"/openapi.json", *ASSET_TYPES}
    assert not re.search(r"https?:", page.text)


def test_the_files_the_page_loads_answer_with_their_types() -> None:
    responses = get(*ASSET_TYPES)
    for (path, media_type), response in zip(ASSET_TYPES.items(), responses, strict=True):
        assert response.status_code == 200, path
        assert response.headers["content-type"].split(";")[0] == media_type, path
        assert response.content, path
    bundle = responses[0].content
    assert b"SwaggerUIBundle" in bundle
    version = SWAGGER_UI_MAJOR.search(bundle)
    assert version is not None
    assert version.group(1) == b"5"


def test_swagger_uis_licence_is_served_beside_its_files() -> None:
    [license_text] = get("/docs/assets/LICENSE")
    assert license_text.status_code == 200
    assert license_text.headers["content-type"].startswith("text/plain")
    assert "Swagger UI" in license_text.text
    assert "Apache License" in license_text.text
    assert "Version 2.0, January 2004" in license_text.text


def test_the_oauth2_redirect_page_is_local_too() -> None:
    [page] = get("/docs/oauth2-redirect")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?:", page.text)


def test_redoc_and_the_packages_other_files_are_not_served() -> None:
    redoc, redoc_bundle = get("/redoc", "/docs/assets/redoc.standalone.js")
    assert redoc.status_code == 404
    assert redoc_bundle.status_code == 404
