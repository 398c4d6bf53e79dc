"""The UI under test: served by vite preview on a stack, with a browser page open on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Locator, Page

from scripts.frontend import start_frontend
from scripts.stack import ROOT, LocalStack, free_port, wait_until

ARTIFACTS = ROOT / "test-artifacts" / "e2e"
# axe-core, pinned in frontend/package.json; injected into the page, never fetched.
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
# The impacts a page state may not have; "moderate" and "minor" are reported, not failed.
BLOCKING_IMPACTS = ("serious", "critical")
# Every UI wait is bounded; a job needs a worker start (a few s) at most.
UI_TIMEOUT_MS = 20_000

SETOSA = {"Sepal length": "5.1", "Sepal width": "3.5", "Petal length": "1.4", "Petal width": "0.2"}


def fill(page: Page, values: dict[str, str]) -> None:
    """Type each measurement into its field, by the field's label."""
    for label, value in values.items():
        page.get_by_label(f"{label} (cm)", exact=True).fill(value)


def single(page: Page) -> Locator:
    return page.get_by_role("region", name="One flower")


def batch(page: Page) -> Locator:
    return page.get_by_role("region", name="Batch from CSV")


def predict(page: Page, values: dict[str, str]) -> None:
    """Fill the one-flower form with these measurements and press Predict."""
    fill(page, values)
    single(page).get_by_role("button", name="Predict", exact=True).click()


@dataclass
class UI:
    """The served UI, its stack, and a page open on it."""

    stack: LocalStack
    url: str
    page: Page
    shots: Path
    page_errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def open(self) -> None:
        self.page.goto(self.url)
        self.page.get_by_role("heading", name="irisq").wait_for()

    def audit(self, name: str) -> list[dict[str, Any]]:
        """Screenshot this state of the page and run axe-core on it: its violations, all impacts."""
        path = self.screenshot(name)
        print(f"screenshot: {path}")
        if not self.page.evaluate("() => typeof window.axe === 'object'"):
            if not AXE.is_file():
                raise FileNotFoundError(f"{AXE} is missing: run `make frontend-deps`")
            self.page.add_script_tag(path=str(AXE))
        results: dict[str, Any] = self.page.evaluate(AXE_RUN)
        # A run that checked nothing (no rules passed) would pass any page.
        assert results["passed"] > 0, results
        violations: list[dict[str, Any]] = results["violations"]
        return violations


AXE_RUN = """async () => {
  const results = await axe.run(document);
  return {
    passed: results.passes.length,
    violations: results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(" ")),
    })),
  };
}"""


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in BLOCKING_IMPACTS]


def model_known(stack: LocalStack) -> bool:
    """The gateway has read the model's version: from then on, repeats are cache hits."""
    return httpx.get(f"{stack.base_url}/model", timeout=2).status_code == 200


def serve_ui(stack: LocalStack, browser: Browser, test_name: str) -> Iterator[UI]:
    port = free_port()
    start_frontend(stack, port)
    wait_until(lambda: model_known(stack), 30, "the gateway to know the model")
    shots = ARTIFACTS / test_name
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    ui = UI(stack=stack, url=f"http://127.0.0.1:{port}/", page=page, shots=shots)
    page.on("pageerror", lambda error: ui.page_errors.append(str(error)))
    try:
        yield ui
        assert ui.page_errors == [], f"uncaught errors in the page: {ui.page_errors}"
    finally:
        context.close()
