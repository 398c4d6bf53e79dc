"""The prediction path over HTTP, against a real gateway, worker and Redis."""

from __future__ import annotations

import time

import httpx
import redis
from sklearn.datasets import load_iris

from contract.http import FEATURES
from scripts.stack import LocalStack
from tests.support.items import SETOSA, fresh_item
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric


def test_iris_rows_are_predicted_with_high_accuracy(client: httpx.Client) -> None:
    iris = load_iris()
    items = [dict(zip(FEATURES, map(float, row), strict=True)) for row in iris.data]
    response = client.post("/predict", json={"items": items})
    assert response.status_code == 200
    body = response.json()
    predictions = [item["prediction"] for item in body["items"]]
    expected = [str(iris.target_names[t]) for t in iris.target]
    accuracy = sum(p == e for p, e in zip(predictions, expected, strict=True)) / len(expected)
    assert accuracy >= 0.95
    assert body["model_version"].startswith("rf-")
    for item in body["items"]:
        assert set(item["probabilities"]) == {"setosa", "versicolor", "virginica"}
        assert abs(sum(item["probabilities"].values()) - 1) < 1e-9
        assert item["prediction"] == max(item["probabilities"], key=item["probabilities"].get)
        assert item["class_index"] == ["setosa", "versicolor", "virginica"].index(
            item["prediction"]
        )


def test_repeated_request_is_answered_from_cache_without_a_task(client: httpx.Client) -> None:
    item = fresh_item()
    first = client.post("/predict", json={"items": [item]})
    assert first.status_code == 200
    assert first.json()["items"][0]["cached"] is False
    assert first.json()["job_id"] is not None
    tasks = metric(client, "irisq_tasks_published_total")
    jobs = metric(client, "irisq_jobs_submitted_total", mode="sync")

    again = client.post("/predict", json={"items": [item]})
    assert again.status_code == 200
    body = again.json()
    assert body["job_id"] is None
    assert body["items"][0]["cached"] is True
    assert body["items"][0]["probabilities"] == first.json()["items"][0]["probabilities"]
    assert metric(client, "irisq_tasks_published_total") == tasks
    assert metric(client, "irisq_jobs_submitted_total", mode="sync") == jobs


def test_requests_above_cache_max_items_neither_use_nor_fill_the_cache(
    client: httpx.Client, running_stack: LocalStack
) -> None:
    # CACHE_MAX_ITEMS is 10 by default: a bulk request is predicted, never cached.
    small = [fresh_item() for _ in range(10)]
    large = [*small, *(fresh_item() for _ in range(10))]
    with redis.Redis.from_url(str(running_stack.redis_url)) as r:
        entries = len(r.keys("irisq:pred:*"))
        first = client.post("/predict", json={"items": large})
        assert first.status_code == 200
        assert not any(item["cached"] for item in first.json()["items"])
        assert len(r.keys("irisq:pred:*")) == entries, "a bulk request wrote cache entries"
        again = client.post("/predict", json={"items": large}).json()
        assert not any(item["cached"] for item in again["items"])
        assert again["items"] == first.json()["items"]
        # The same rows in a small request are cached as usual.
        client.post("/predict", json={"items": small})
        assert len(r.keys("irisq:pred:*")) == entries + 10
        repeat = client.post("/predict", json={"items": small}).json()
        assert all(item["cached"] for item in repeat["items"])
        assert repeat["items"] == [{**item, "cached": True} for item in first.json()["items"][:10]]


def test_equal_values_written_differently_hit_the_same_cache_entry(client: httpx.Client) -> None:
    item = fresh_item()
    client.post("/predict", json={"items": [item]})
    longer = {k: float(f"{v:.4f}") + 0.00001 for k, v in item.items()}  # rounds back to item
    body = client.post("/predict", json={"items": [longer]}).json()
    assert body["items"][0]["cached"] is True


def test_mixed_batch_sends_only_the_misses(client: httpx.Client) -> None:
    known, new_a, new_b = fresh_item(), fresh_item(), fresh_item()
    client.post("/predict", json={"items": [known]})
    misses = metric(client, "irisq_cache_misses_total")
    hits = metric(client, "irisq_cache_hits_total")

    body = client.post("/predict", json={"items": [new_a, known, new_b]}).json()
    assert [i["cached"] for i in body["items"]] == [False, True, False]
    assert metric(client, "irisq_cache_misses_total") - misses == 2
    assert metric(client, "irisq_cache_hits_total") - hits == 1
    # An async job's record holds the request in order; the worker computed the misses only.
    new_c, new_d = fresh_item(), fresh_item()
    accepted = client.post("/predict?mode=async", json={"items": [new_c, known, new_d]})
    job = wait_for_job(client, accepted.json()["job_id"])
    assert [i["cached"] for i in job["items"]] == [False, True, False]
    assert job["items"][1] == body["items"][1]


def test_a_job_answered_inside_its_sync_request_keeps_no_record(client: httpx.Client) -> None:
    forgotten = metric(client, "irisq_job_records_answered_total")
    answered = client.post("/predict", json={"items": [fresh_item()]})
    assert answered.status_code == 200
    accepted = client.post("/predict?mode=async", json={"items": [fresh_item()]}).json()
    assert wait_for_job(client, accepted["job_id"])["status"] == "done"

    deadline = time.monotonic() + 5
    while (gone := client.get(f"/jobs/{answered.json()['job_id']}")).status_code == 200:
        assert time.monotonic() < deadline, "the answered job's record was kept"
        time.sleep(0.05)
    assert gone.status_code == 404
    assert "answered inside its own sync request" in gone.json()["detail"]
    assert metric(client, "irisq_job_records_answered_total") > forgotten
    # The async job, handed back as 202, keeps its record.
    assert client.get(f"/jobs/{accepted['job_id']}").json()["status"] == "done"


def test_async_request_is_accepted_then_readable_until_done(client: httpx.Client) -> None:
    response = client.post(
        "/predict", json={"items": [fresh_item()]}, headers={"Prefer": "respond-async"}
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["status_url"] == f"/jobs/{body['job_id']}"
    assert response.headers["Location"] == body["status_url"]
    assert response.headers["Preference-Applied"] == "respond-async"
    job = wait_for_job(client, body["job_id"])
    assert job["status"] == "done"
    assert job["items"][0]["cached"] is False
    assert job["created_at"] <= job["started_at"] <= job["finished_at"]
    assert job["model_version"].startswith("rf-")


def test_mode_async_query_parameter_is_the_same_as_prefer(client: httpx.Client) -> None:
    response = client.post("/predict?mode=async", json={"items": [fresh_item()]})
    assert response.status_code == 202
    assert wait_for_job(client, response.json()["job_id"])["status"] == "done"


def test_async_request_for_cached_items_answers_200(client: httpx.Client) -> None:
    client.post("/predict", json={"items": [SETOSA]})
    response = client.post(
        "/predict", json={"items": [SETOSA]}, headers={"Prefer": "respond-async"}
    )
    assert response.status_code == 200
    assert response.json()["items"][0]["cached"] is True


def test_jobs_complete_and_cache_after_redis_forgets_its_scripts(
    client: httpx.Client, running_stack: LocalStack
) -> None:
    # A restarted Redis keeps no scripts: the worker's record writes and the gateway's
    # lookup load theirs again, and nothing is lost.
    with redis.Redis.from_url(str(running_stack.redis_url)) as r:
        r.script_flush()
    item = fresh_item()
    first = client.post("/predict?mode=async", json={"items": [item]})
    assert first.status_code == 202
    job = wait_for_job(client, first.json()["job_id"])
    assert job["status"] == "done"
    again = client.post("/predict", json={"items": [item]}).json()["items"][0]
    assert again == {**job["items"][0], "cached": True}


def test_unknown_job_is_404(client: httpx.Client) -> None:
    for job_id in ("0" * 32, "not-a-job", "x" * 64):
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


def test_model_endpoint_serves_the_metadata(client: httpx.Client) -> None:
    body = client.get("/model").json()
    assert body["classes"] == ["setosa", "versicolor", "virginica"]
    assert body["version"].startswith("rf-")
    assert len(body["sha256"]) == 64


def test_health_ready_and_docs(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "workers": "ok", "model": "ok", "grpc": "ok"}
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/predict", "/jobs/{job_id}", "/model", "/health", "/ready"} <= set(paths)


def test_metrics_count_requests_by_route_and_status(client: httpx.Client) -> None:
    labels = {"method": "GET", "route": "/jobs/{job_id}", "status": "404"}
    before = metric(client, "http_requests_total", **labels)
    for _ in range(3):
        client.get(f"/jobs/{'f' * 32}")
    assert metric(client, "http_requests_total", **labels) - before == 3
    text = client.get("/metrics").text
    for name in (
        "http_request_duration_seconds_bucket",
        "irisq_predictions_total",
        "irisq_cache_hits_total",
        "irisq_cache_misses_total",
        "irisq_jobs_submitted_total",
        "irisq_sync_wait_seconds_bucket",
        "irisq_sync_wait_timeouts_total",
    ):
        assert name in text
    # Bounded labels: unmatched paths share one label, item values never appear.
    client.get("/no/such/path/5.1")
    assert "5.1" not in "".join(line for line in text.splitlines() if "route=" in line)
    assert 'route="unmatched"' in client.get("/metrics").text


def test_cors_grants_only_configured_origins(client: httpx.Client) -> None:
    allowed = client.options(
        "/predict",
        headers={"Origin": "http://127.0.0.1:5174", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers.get("access-control-allow-origin") == "http://127.0.0.1:5174"
    denied = client.options(
        "/predict",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in denied.headers
