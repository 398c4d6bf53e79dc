"""axe-core on every state of the page: none may have a serious or critical violation."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from tests.e2e.ui import SETOSA, UI, batch, blocking, predict, single

# Not asked before in this test, so its answer needs a job (and no worker runs then).
VIRGINICA = {
    "Sepal length": "6.9",
    "Sepal width": "3.1",
    "Petal length": "5.4",
    "Petal width": "2.1",
}


def test_every_state_of_the_page_passes_axe_without_serious_violations(ui: UI) -> None:
    page = ui.page
    form, panel = single(page), batch(page)
    found: dict[str, list[dict[str, Any]]] = {}

    ui.open()
    expect(page.get_by_text("hold-out accuracy", exact=False)).to_be_visible()
    found["1-initial"] = ui.audit("1-initial")

    predict(page, {**SETOSA, "Sepal width": "abc", "Petal width": "-1"})
    expect(page.get_by_label("Petal width (cm)", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    found["2-field-errors"] = ui.audit("2-field-errors")

    predict(page, SETOSA)
    expect(form.get_by_role("heading", name="Predicted species: setosa")).to_be_visible()
    found["3-single-result"] = ui.audit("3-single-result")

    panel.get_by_role("button", name="Use example rows").click()
    panel.get_by_role("button", name="Predict batch").click()
    expect(panel.get_by_role("table", name="Batch results")).to_be_visible()
    found["4-batch-results"] = ui.audit("4-batch-results")

    panel.get_by_label("CSV rows", exact=False).fill("5.1,3.5,1.4\nnot,a,valid,row")
    panel.get_by_role("button", name="Predict batch").click()
    expect(panel.get_by_role("alert")).to_contain_text("Line 1: expected 4 values")
    found["5-batch-row-errors"] = ui.audit("5-batch-row-errors")

    (worker,) = [s for s in ui.stack.services if s.name.startswith("worker")]
    ui.stack.stop(worker)
    predict(page, VIRGINICA)
    expect(form.get_by_role("status")).to_contain_text("is queued.")
    expect(form.get_by_text("Elapsed:")).to_be_visible()
    found["6-job-pending"] = ui.audit("6-job-pending")

    ui.stack.stop_redis()
    form.get_by_role("button", name="Predict", exact=True).click()
    expect(form.get_by_role("alert")).to_contain_text("The service is unavailable.")
    found["7-error-banner"] = ui.audit("7-error-banner")

    for state, violations in found.items():
        for v in violations:
            print(f"{state}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}")
    serious = {state: blocking(v) for state, v in found.items() if blocking(v)}
    assert serious == {}, json.dumps(serious, indent=2)


def test_the_audit_finds_a_serious_violation_when_there_is_one(ui: UI) -> None:
    ui.open()
    # A control: an unlabelled input and an image without a text alternative.
    ui.page.evaluate(
        """() => document.querySelector("main").insertAdjacentHTML(
            "beforeend", '<input type="text"><img src="data:,">')"""
    )
    found = {v["id"] for v in blocking(ui.audit("1-broken-on-purpose"))}
    assert {"label", "image-alt"} <= found, found
