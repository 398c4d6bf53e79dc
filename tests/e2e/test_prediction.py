"""The UI in a real browser against the real stack: predict, cache, validate, batch."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.ui import SETOSA, UI, batch, predict, single


def test_a_setosa_flower_is_predicted_then_answered_from_the_cache(ui: UI) -> None:
    ui.open()
    page = ui.page
    form = single(page)
    predict(page, SETOSA)

    expect(form.get_by_role("status")).to_have_text("Done.")
    expect(form.get_by_role("heading", name="Predicted species: setosa")).to_be_visible()
    meters = form.get_by_role("meter")
    expect(meters).to_have_count(3)
    expect(form.get_by_role("meter", name="setosa")).to_have_attribute("aria-valuenow", "1")
    expect(form.get_by_text("computed", exact=True)).to_be_visible()
    expect(form.get_by_text("model (a worker ran the job)")).to_be_visible()
    version = form.locator(".facts code").inner_text()
    assert version.startswith("rf-"), version
    ui.screenshot("1-computed")

    form.get_by_role("button", name="Predict", exact=True).click()
    expect(form.get_by_role("status")).to_have_text("Done: answered from the cache.")
    expect(form.get_by_text("cached", exact=True)).to_be_visible()
    expect(form.get_by_role("meter")).to_have_count(3)
    history = page.get_by_role("region", name="History").get_by_role("listitem")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("setosa")
    expect(history.first).to_contain_text("cached")
    expect(page.get_by_text(version).first).to_be_visible()
    ui.screenshot("2-cached")


def test_an_invalid_value_is_named_next_to_its_field_and_not_sent(ui: UI) -> None:
    posts: list[str] = []
    ui.page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    ui.open()
    page = ui.page
    predict(page, {**SETOSA, "Petal width": "-0.5", "Sepal length": "abc"})

    petal_width = page.get_by_label("Petal width (cm)", exact=True)
    expect(petal_width).to_have_attribute("aria-invalid", "true")
    expect(petal_width).to_have_accessible_description("Must be greater than 0 cm.")
    sepal_length = page.get_by_label("Sepal length (cm)", exact=True)
    expect(sepal_length).to_have_accessible_description("Enter a number, like 5.1.")
    expect(sepal_length).to_be_focused()
    ui.screenshot("1-field-errors")
    assert posts == []

    petal_width.fill("0.2")
    sepal_length.fill("5.1")
    # By keyboard alone, the focus visible: Tab from the last field reaches Predict.
    petal_width.press("Tab")
    predict_button = single(page).get_by_role("button", name="Predict", exact=True)
    expect(predict_button).to_be_focused()
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert outline == ["solid", "3px"], outline
    page.keyboard.press("Enter")
    expect(single(page).get_by_role("heading", name="Predicted species: setosa")).to_be_visible()
    expect(petal_width).not_to_have_attribute("aria-invalid", "true")


def test_a_csv_batch_is_predicted_in_one_request_and_shown_as_a_table(ui: UI) -> None:
    predicts: list[str] = []
    ui.page.on("request", lambda r: predicts.append(r.url) if "/predict" in r.url else None)
    ui.open()
    page = ui.page
    panel = batch(page)
    rows = "\n".join(
        [
            "sepal_length,sepal_width,petal_length,petal_width",
            "5.1,3.5,1.4,0.2",
            "5.9,2.8,4.3,1.3",
            "not,a,valid,row",
        ]
    )
    panel.get_by_label("CSV rows", exact=False).fill(rows)
    panel.get_by_role("button", name="Predict batch").click()
    expect(panel.get_by_role("alert")).to_contain_text("Line 4: sepal_length: Enter a number")
    assert predicts == []

    panel.get_by_label("CSV rows", exact=False).fill(rows.rsplit("\n", 1)[0] + "\n7.7,3.0,6.1,2.3")
    panel.get_by_role("button", name="Predict batch").click()
    table = panel.get_by_role("table", name="Batch results")
    expect(table.get_by_role("row")).to_have_count(4)
    expect(table.get_by_role("row").nth(1)).to_contain_text("setosa")
    expect(table.get_by_role("row").nth(2)).to_contain_text("versicolor")
    expect(table.get_by_role("row").nth(3)).to_contain_text("virginica")
    assert len(predicts) == 1

    with page.expect_download() as download:
        panel.get_by_role("button", name="Download results (CSV)").click()
    path = ui.shots / "batch-results.csv"
    download.value.save_as(path)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("sepal_length,sepal_width,petal_length,petal_width,prediction,")
    assert [line.split(",")[4] for line in lines[1:]] == ["setosa", "versicolor", "virginica"]
    ui.screenshot("1-batch-table")
