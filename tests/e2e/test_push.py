"""The page is told a job's progress (GET /jobs/{id}/events) and polls only without it."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.e2e.ui import UI, predict, single

# Distinct flowers, so that no answer comes from the cache of an earlier one.
VERSICOLOR = {
    "Sepal length": "6.1",
    "Sepal width": "2.9",
    "Petal length": "4.6",
    "Petal width": "1.4",
}
VIRGINICA = {
    "Sepal length": "6.4",
    "Sepal width": "3.1",
    "Petal length": "5.5",
    "Petal width": "1.8",
}
EVENTS = re.compile(r"/jobs/[^/]+/events$")
JOB = re.compile(r"/jobs/[^/]+$")


def record_job_requests(page: Page) -> list[str]:
    """The paths of every request the page makes under /jobs/, in order."""
    paths: list[str] = []

    def note(request: Request) -> None:
        path = urlparse(request.url).path
        if path.startswith("/jobs/"):
            paths.append(path)

    page.on("request", note)
    return paths


def test_a_queued_job_is_told_its_result_by_push_without_polling(ui: UI) -> None:
    (worker,) = [s for s in ui.stack.services if s.name.startswith("worker")]
    ui.stack.stop(worker)
    paths = record_job_requests(ui.page)
    ui.open()
    form = single(ui.page)
    predict(ui.page, VERSICOLOR)
    status = form.get_by_role("status")
    expect(status).to_contain_text("is queued.")
    ui.screenshot("1-queued-listening")

    ui.stack.start_worker()
    expect(status).to_have_text("Done.")
    expect(form.get_by_role("heading", name="Predicted species: versicolor")).to_be_visible()
    ui.screenshot("2-done-by-push")
    assert [p for p in paths if EVENTS.search(p)], f"no event stream was opened: {paths}"
    assert [p for p in paths if JOB.search(p)] == [], f"the page polled the job: {paths}"


def hold(route: Route) -> None:
    """Never answer: as a proxy that buffers the stream until it ends."""


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(lambda route: route.abort(), id="blocked"),
        pytest.param(lambda route: route.fulfill(status=404), id="not-found"),
        pytest.param(hold, id="held-by-a-buffering-proxy"),
    ],
)
def test_the_result_arrives_by_polling_when_the_event_stream_fails(
    ui: UI, stream: Callable[[Route], None]
) -> None:
    ui.page.route(EVENTS, stream)
    paths = record_job_requests(ui.page)
    ui.open()
    form = single(ui.page)
    predict(ui.page, VIRGINICA)
    expect(form.get_by_role("status")).to_have_text("Done.")
    expect(form.get_by_role("heading", name="Predicted species: virginica")).to_be_visible()
    assert [p for p in paths if EVENTS.search(p)], f"no event stream was tried: {paths}"
    assert [p for p in paths if JOB.search(p)], f"the page never polled: {paths}"


def test_a_browser_without_event_source_polls(ui: UI) -> None:
    ui.page.add_init_script("delete window.EventSource;")
    paths = record_job_requests(ui.page)
    ui.open()
    form = single(ui.page)
    predict(ui.page, VIRGINICA)
    expect(form.get_by_role("status")).to_have_text("Done.")
    assert [p for p in paths if EVENTS.search(p)] == [], paths
    assert [p for p in paths if JOB.search(p)], paths
