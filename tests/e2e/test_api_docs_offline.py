"""/docs in a real browser that may reach the gateway and nothing else: Swagger UI loads from
the gateway's own files, shows the API, and "Try it out" runs a prediction on the real stack."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from scripts.stack import LocalStack, wait_until
from tests.e2e.ui import ARTIFACTS, UI_TIMEOUT_MS, model_known

# Schemes that name no host: the page's inline images and generated files.
LOCAL_SCHEMES = {"data", "blob"}


@dataclass
class DocsPage:
    """A browser page that reaches only the gateway, and what it tried to reach besides."""

    page: Page
    url: str
    shots: Path
    refused: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@pytest.fixture
def docs(stack: LocalStack, browser: Browser, request: pytest.FixtureRequest) -> Iterator[DocsPage]:
    stack.start_redis()
    stack.start_worker()
    stack.start_gateway()
    wait_until(lambda: model_known(stack), 30, "the gateway to know the model")
    gateway = urlsplit(stack.base_url)
    shots = ARTIFACTS / request.node.name
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    docs = DocsPage(page=page, url=f"{stack.base_url}/docs", shots=shots)

    def only_the_gateway(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in LOCAL_SCHEMES or (url.scheme, url.netloc) == (
            gateway.scheme,
            gateway.netloc,
        ):
            route.continue_()
        else:
            docs.refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_gateway)
    page.on("pageerror", lambda error: docs.page_errors.append(str(error)))
    try:
        yield docs
        assert docs.page_errors == [], f"uncaught errors in the page: {docs.page_errors}"
    finally:
        context.close()


def test_try_it_out_predicts_from_the_docs_page_with_only_the_gateway_reachable(
    docs: DocsPage,
) -> None:
    page = docs.page
    page.goto(docs.url)
    predict = page.locator(".opblock-post").filter(
        has=page.locator(".opblock-summary-path", has_text="/predict")
    )
    expect(predict).to_have_count(1)
    expect(page.get_by_role("heading", name="irisq")).to_be_visible()
    # Swagger UI 5 renders the gateway's OpenAPI 3.1 document (4.x would refuse it).
    expect(page.get_by_text("OAS 3.1", exact=True)).to_be_visible()
    page.screenshot(path=str(docs.shots / "1-docs.png"), full_page=True)

    predict.locator(".opblock-summary-control").click()
    predict.get_by_role("button", name="Try it out").click()
    expect(predict.locator("textarea.body-param__text")).to_have_value(re.compile("sepal_length"))
    predict.get_by_role("button", name="Execute").click()

    status = predict.locator(".live-responses-table tbody .response-col_status")
    expect(status).to_have_text("200")
    expect(
        predict.locator(".live-responses-table tbody .response-col_description")
    ).to_contain_text('"prediction"')
    page.screenshot(path=str(docs.shots / "2-executed.png"), full_page=True)
    assert docs.refused == [], f"the page tried to reach beyond the gateway: {docs.refused}"
