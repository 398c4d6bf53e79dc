"""What the UI shows when a part of the real stack is down."""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import expect

from tests.e2e.ui import UI, predict, single

VERSICOLOR = {
    "Sepal length": "6.1",
    "Sepal width": "2.9",
    "Petal length": "4.6",
    "Petal width": "1.4",
}
# Long enough that a job would have run if any worker were there (they answer in ~10 ms).
STILL_QUEUED_SECONDS = 3.0
RECOVERY_SECONDS = 20.0


def test_a_job_stays_queued_without_a_worker_and_completes_when_one_returns(ui: UI) -> None:
    (worker,) = [s for s in ui.stack.services if s.name.startswith("worker")]
    ui.stack.stop(worker)
    ui.open()
    page = ui.page
    form = single(page)
    predict(page, VERSICOLOR)

    status = form.get_by_role("status")
    expect(status).to_contain_text("is queued.")
    time.sleep(STILL_QUEUED_SECONDS)
    expect(status).to_contain_text("is queued.")
    expect(
        form.get_by_role("list", name="Job progress").locator("[aria-current=step]")
    ).to_have_text("queued")
    expect(form.get_by_text("Elapsed:")).to_be_visible()
    ui.screenshot("1-queued")
    # The page tells the truth: the gateway has the job, queued.
    match = re.search(r"Job (\w+) is queued", status.inner_text())
    assert match, status.inner_text()
    job = httpx.get(f"{ui.stack.base_url}/jobs/{match.group(1)}", timeout=5).json()
    assert job["status"] == "queued", job

    ui.stack.start_worker()
    expect(status).to_have_text("Done.")
    expect(form.get_by_role("heading", name="Predicted species: versicolor")).to_be_visible()
    expect(form.get_by_role("meter")).to_have_count(3)
    ui.screenshot("2-done-after-worker-returned")


def test_redis_down_shows_a_banner_and_retry_resends(ui: UI) -> None:
    ui.open()
    page = ui.page
    form = single(page)
    form.get_by_role("button", name="virginica").click()
    ui.stack.stop_redis()
    form.get_by_role("button", name="Predict", exact=True).click()

    banner = form.get_by_role("alert")
    expect(banner).to_contain_text("The service is unavailable.")
    expect(banner).to_contain_text("Redis")
    ui.screenshot("1-unavailable")

    # Redis is back; the gateway's pool may still hold connections to the old server, each
    # good for one more 503, so the user may need more than one Retry (bounded here).
    ui.stack.start_redis()
    statuses: list[int] = []
    deadline = time.monotonic() + RECOVERY_SECONDS
    while not statuses or statuses[-1] == 503:
        assert time.monotonic() < deadline, f"Retry never got through: {statuses}"
        with page.expect_response(lambda r: r.url.endswith("/predict")) as response:
            form.get_by_role("button", name="Retry").click()
        statuses.append(response.value.status)
    assert statuses[-1] in (200, 202), statuses
    expect(form.get_by_role("heading", name="Predicted species: virginica")).to_be_visible()
    expect(banner).to_have_count(0)
    ui.screenshot("2-after-retry")
