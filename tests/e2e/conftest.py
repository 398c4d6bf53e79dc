"""A real browser (Debian's chromium, driven by Playwright) on the UI served by vite preview."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

from scripts.frontend import DIST, frontend_built
from scripts.stack import LocalStack
from tests.e2e.ui import UI, UI_TIMEOUT_MS, serve_ui

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags chromium keeps dialling out, which this machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread until it stops, and later tests call asyncio.run().
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def built_frontend() -> Path:
    if not frontend_built():
        pytest.fail(f"the frontend is not built ({DIST}): run `make frontend-build`")
    return DIST


@pytest.fixture
def ui(
    stack: LocalStack, browser: Browser, built_frontend: Path, request: pytest.FixtureRequest
) -> Iterator[UI]:
    """A private stack (redis, one worker, gateway) with the UI on it; the test may break it."""
    stack.start_redis()
    stack.start_worker()
    stack.start_gateway()
    yield from serve_ui(stack, browser, request.node.name)
