"""What a result shows: the job's own time, one percentage format, the flower among the iris
data set; and that an old result never stays beside new errors."""

from __future__ import annotations

import math
import re
from urllib.parse import urlparse

import httpx
from playwright.sync_api import Locator, expect

from tests.e2e.ui import SETOSA, UI, batch, predict, single

ROWS = "\n".join(
    [
        "sepal_length,sepal_width,petal_length,petal_width",
        "5.1,3.5,1.4,0.2",
        "5.9,2.8,4.3,1.3",
        "7.7,3.0,6.1,2.3",
    ]
)
PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)(\s*)%")


def fact(region: Locator, term: str) -> Locator:
    """The <dd> after the <dt> named `term`."""
    return region.locator(f"xpath=.//dt[normalize-space()='{term}']/following-sibling::dd[1]")


def duration(ms: float) -> str:
    """As the page writes a job's time (format.ts formatDuration)."""
    ms = max(0.0, ms)
    if ms < 1000:
        return f"{math.floor(ms + 0.5)} ms"
    seconds = ms / 1000
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def test_time_taken_is_the_jobs_own_time_from_its_record(ui: UI) -> None:
    ui.open()
    page = ui.page
    predict(page, SETOSA)
    expect(single(page).get_by_role("status")).to_have_text("Done.")
    job_id = fact(single(page), "Job id").inner_text()
    job = httpx.get(f"{ui.stack.base_url}/jobs/{job_id}", timeout=5).json()
    created, started, finished = job["created_at"], job["started_at"], job["finished_at"]
    total = duration((finished - created) * 1000)
    queued = duration((started - created) * 1000)
    running = duration((finished - started) * 1000)
    expect(fact(single(page), "Time taken")).to_have_text(
        f"{total} ({queued} queued, {running} running) from the job's record"
    )
    ui.screenshot("1-job-time")

    # From the cache there is no job: the page says its figure is the round trip.
    single(page).get_by_role("button", name="Predict", exact=True).click()
    expect(single(page).get_by_role("status")).to_have_text("Done: answered from the cache.")
    expect(fact(single(page), "Time taken")).to_contain_text(
        "round trip, measured by the page (a cached answer has no job)"
    )
    expect(fact(single(page), "Job id")).to_have_count(0)


def test_bad_values_clear_the_last_result_and_bad_rows_the_last_table(ui: UI) -> None:
    ui.open()
    page = ui.page
    predict(page, SETOSA)
    expect(single(page).get_by_role("heading", name="Predicted species: setosa")).to_be_visible()
    predict(page, {"Petal width": "-1"})
    expect(page.get_by_label("Petal width (cm)", exact=True)).to_have_accessible_description(
        "Must be greater than 0 cm."
    )
    expect(single(page).get_by_role("heading", name=re.compile("Predicted species"))).to_have_count(
        0
    )
    expect(single(page).get_by_role("img")).to_have_count(0)
    ui.screenshot("1-field-errors-without-the-old-result")

    box = batch(page).get_by_label("CSV rows", exact=False)
    box.fill(ROWS)
    batch(page).get_by_role("button", name="Predict batch").click()
    expect(batch(page).get_by_role("table", name="Batch results")).to_be_visible()
    box.fill(ROWS + "\n1,2,3")
    batch(page).get_by_role("button", name="Predict batch").click()
    expect(batch(page).get_by_role("alert")).to_contain_text("Line 5: petal_width: missing")
    expect(batch(page).get_by_role("table")).to_have_count(0)
    ui.screenshot("2-row-errors-without-the-old-table")


def test_every_percentage_has_one_decimal(ui: UI) -> None:
    ui.open()
    page = ui.page
    predict(page, SETOSA)
    expect(single(page).get_by_role("status")).to_have_text("Done.")
    batch(page).get_by_label("CSV rows", exact=False).fill(ROWS)
    batch(page).get_by_role("button", name="Predict batch").click()
    expect(batch(page).get_by_role("table", name="Batch results")).to_be_visible()
    expect(page.get_by_text(re.compile("hold-out accuracy"))).to_be_visible()

    text = page.locator("body").inner_text()
    values = [m.group(0) for m in PERCENT.finditer(text)]
    meters = single(page).get_by_role("meter")
    values += [meters.nth(i).get_attribute("aria-valuetext") or "" for i in range(3)]
    # Bars, model accuracy, the batch table and the history: all there, all alike.
    assert len(values) >= 3 + 1 + 3 + 1 + 3, values
    wrong = [v for v in values if not re.fullmatch(r"\d{1,3}\.\d%", v)]
    assert wrong == [], f"percentages not written as '97.0%': {wrong} of {values}"
    ui.screenshot("1-percentages")


def test_the_flower_is_marked_on_a_scatter_of_the_iris_data_set(ui: UI) -> None:
    requested: list[str] = []
    ui.page.on("request", lambda r: requested.append(urlparse(r.url).path))
    ui.open()
    page = ui.page
    predict(page, SETOSA)
    chart = single(page).get_by_role(
        "img",
        name=re.compile(r"This flower: petal 1\.4 cm \u00d7 0\.2 cm, among the setosa cluster"),
    )
    expect(chart).to_be_visible()
    expect(chart).to_have_accessible_description(re.compile(r"^50 setosa \(circles\)"))
    # The 150 flowers of the data set (every species its own shape), and this one marked.
    assert chart.locator("circle:not([class]), rect, polygon").count() == 150
    expect(chart.locator(".scatter-flower .ring")).to_have_count(1)
    legend = single(page).get_by_role("list", name="Legend").get_by_role("listitem")
    expect(legend).to_have_text(["setosa (50)", "versicolor (50)", "virginica (50)", "this flower"])

    # Beside the answer, not under it (at this width), and drawn from the bundle, not fetched.
    bars = single(page).get_by_role("list", name="Class probabilities").bounding_box()
    box = chart.bounding_box()
    assert bars is not None
    assert box is not None
    assert box["x"] > bars["x"] + bars["width"] / 2, (bars, box)
    assert box["y"] < bars["y"] + bars["height"], (bars, box)
    assert not [p for p in requested if "iris" in p.lower()], requested
    ui.screenshot("1-scatter-setosa")

    predict(page, {"Petal length": "4.9", "Petal width": "1.6"})
    expect(
        single(page).get_by_role(
            "img", name=re.compile("where the (versicolor and virginica|virginica and versicolor)")
        )
    ).to_be_visible()
    ui.screenshot("2-scatter-overlap")
