"""The in-process V2 reference (bench/reference_v2.py) and the bench's V2 scenarios."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from sklearn.datasets import load_iris

from bench.comparison import TARGET, comparison_report, start_reference
from bench.reference_v2 import (
    AdaptiveBatcher,
    ReferenceModel,
    create_reference_app,
    load_reference_model,
)
from bench.run import Result, format_row
from bench.scenarios import SCENARIOS, run_wrk

INFER = "/v2/models/iris/infer"
OUTPUTS = [{"name": "label"}, {"name": "probabilities"}, {"name": "class_index"}]


@pytest.fixture(scope="module")
def reference_model(model_dir: Path) -> ReferenceModel:
    return load_reference_model(model_dir)


def iris_rows(n: int) -> npt.NDArray[np.float64]:
    data: npt.NDArray[np.float64] = load_iris().data
    return np.resize(data, (n, 4))


def infer_body(rows: npt.NDArray[np.float64], datatype: str = "FP64") -> dict[str, Any]:
    tensor = {"name": "input", "shape": list(rows.shape), "datatype": datatype}
    return {"id": "7", "inputs": [{**tensor, "data": rows.ravel().tolist()}], "outputs": OUTPUTS}


async def post_all(app: Any, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://reference") as client:
        return await asyncio.gather(*(client.post(INFER, json=body) for body in bodies))


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
@pytest.mark.parametrize("n", [1, 1000])
def test_answers_are_scikit_learns_own_probabilities(
    reference_model: ReferenceModel, datatype: str, n: int
) -> None:
    rows = iris_rows(n)
    app = create_reference_app(reference_model)
    (response,) = asyncio.run(post_all(app, [infer_body(rows, datatype)]))
    assert response.status_code == 200
    answer = response.json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == (
        "iris",
        reference_model.version,
        "7",
    )
    outputs = {o["name"]: o for o in answer["outputs"]}
    dtype = {"FP32": np.float32, "FP64": np.float64}[datatype]
    expected = reference_model.classifier.predict_proba(rows.astype(dtype))
    assert outputs["probabilities"]["shape"] == [n, 3]
    assert outputs["probabilities"]["datatype"] == "FP64"
    assert np.array_equal(np.reshape(outputs["probabilities"]["data"], (n, 3)), expected)
    assert outputs["class_index"] == {
        "name": "class_index",
        "datatype": "INT64",
        "shape": [n],
        "data": expected.argmax(axis=1).tolist(),
    }
    assert outputs["label"]["data"] == [reference_model.classes[i] for i in expected.argmax(axis=1)]


def test_nested_data_and_a_chosen_output_are_answered(reference_model: ReferenceModel) -> None:
    rows = iris_rows(3)
    body = {
        "inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP64", "data": rows.tolist()}],
        "outputs": [{"name": "label"}],
    }
    (response,) = asyncio.run(post_all(create_reference_app(reference_model), [body]))
    assert response.status_code == 200
    assert [o["name"] for o in response.json()["outputs"]] == ["label"]


def test_concurrent_requests_share_predict_proba_calls(reference_model: ReferenceModel) -> None:
    app = create_reference_app(reference_model, max_wait_s=0.05)
    bodies = [infer_body(iris_rows(150)[i : i + 5]) for i in range(20)]
    responses = asyncio.run(post_all(app, bodies))
    assert [r.status_code for r in responses] == [200] * 20
    assert 1 <= app.state.batcher.calls < 20
    for i, response in enumerate(responses):
        probabilities = response.json()["outputs"][1]["data"]
        expected = reference_model.classifier.predict_proba(iris_rows(150)[i : i + 5])
        assert np.array_equal(np.reshape(probabilities, (5, 3)), expected)


def test_a_batch_takes_whole_requests_up_to_its_rows() -> None:
    sizes: list[int] = []

    def predict_proba(rows: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
        sizes.append(len(rows))
        return np.zeros((len(rows), 3))

    async def three_requests() -> None:
        batcher = AdaptiveBatcher(predict_proba, max_batch_rows=250, max_wait_s=0.05)
        await asyncio.gather(*(batcher.predict_proba(np.zeros((100, 4))) for _ in range(3)))

    asyncio.run(three_requests())
    assert sizes == [200, 100]


def test_two_instances_compute_two_batches_at_once() -> None:
    # Both calls must be running for either to pass the barrier; it fails them after 5 s.
    both_running = threading.Barrier(2, timeout=5)

    def predict_proba(rows: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
        both_running.wait()
        return np.zeros((len(rows), 3))

    async def two_requests() -> None:
        batcher = AdaptiveBatcher(predict_proba, max_batch_rows=100, instances=2)
        await asyncio.gather(*(batcher.predict_proba(np.zeros((100, 4))) for _ in range(2)))

    asyncio.run(two_requests())


REFUSED = {
    "wrong shape": {"name": "input", "shape": [2, 3], "datatype": "FP64", "data": [1.0] * 6},
    "data of another size": {"name": "input", "shape": [2, 4], "datatype": "FP64", "data": [1.0]},
    "another datatype": {"name": "input", "shape": [1, 4], "datatype": "INT32", "data": [1] * 4},
    "strings": {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": ["1"] * 4},
    "uneven nesting": {
        "name": "input",
        "shape": [2, 4],
        "datatype": "FP64",
        "data": [[1.0] * 4, [1.0] * 3],
    },
    "beyond FP32": {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1e300] * 4},
    "another input": {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1.0] * 4},
}


@pytest.mark.parametrize("tensor", REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_tensor_is_refused_with_400_and_the_protocols_error_body(
    reference_model: ReferenceModel, tensor: dict[str, Any]
) -> None:
    app = create_reference_app(reference_model)
    (response,) = asyncio.run(post_all(app, [{"inputs": [tensor]}]))
    assert response.status_code == 400
    assert list(response.json()) == ["error"]
    assert isinstance(response.json()["error"], str)
    assert app.state.batcher.calls == 0


def test_an_unknown_output_or_model_is_refused(reference_model: ReferenceModel) -> None:
    app = create_reference_app(reference_model)
    body = infer_body(iris_rows(1))

    async def requests() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://reference") as client:
            return [
                await client.post(INFER, json={**body, "outputs": [{"name": "logits"}]}),
                await client.post("/v2/models/roses/infer", json=body),
                await client.post(INFER, content=b"{not json"),
            ]

    assert [(r.status_code, list(r.json())) for r in asyncio.run(requests())] == [
        (400, ["error"]),
        (404, ["error"]),
        (400, ["error"]),
    ]


def test_the_v2_scenarios_carry_the_rows_of_predicts() -> None:
    for rows, predict in ((1, "uncached"), (100, "batch100"), (1000, "batch1000")):
        v2, ref = SCENARIOS[f"v2_{predict}"], SCENARIOS[f"ref_{predict}"]
        grpc = SCENARIOS[f"grpc_{predict}"]
        assert SCENARIOS[predict].items == v2.items == ref.items == grpc.items == rows
        assert (v2.script, v2.args, v2.server) == ("v2.lua", (str(rows),), "irisq")
        assert (ref.script, ref.args, ref.server) == ("v2.lua", (str(rows),), "reference")
        assert (grpc.script, grpc.args, grpc.server) == ("grpc", (str(rows),), "irisq")


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.parametrize("rows", [1, 100])
def test_the_v2_script_sends_bodies_the_reference_answers(
    tmp_path: Path, model_dir: Path, rows: int
) -> None:
    service, url = start_reference(tmp_path, model_dir)
    try:
        figures = run_wrk(url, SCENARIOS[f"ref_batch{rows}" if rows > 1 else "ref_uncached"], 2, 1)
    finally:
        service.stop()
    assert figures["requests"] > 0
    assert (figures["errors"], figures["unexpected"]) == (0, 0)
    assert figures["items"] == figures["requests"] * rows


def result(scenario: str, concurrency: int, items_per_s: float, errors: int = 0) -> Result:
    rows = SCENARIOS[scenario].items
    return Result(
        scenario=scenario,
        concurrency=concurrency,
        workers=0 if scenario.startswith("ref_") else 1,
        requests=int(items_per_s / rows),
        seconds=1.0,
        items=int(items_per_s),
        p50_ms=1.0,
        p99_ms=2.0,
        errors=errors,
        cpu_us_per_request={},
    )


def test_the_comparison_puts_both_faces_beside_the_reference_and_judges_the_target() -> None:
    results = [
        result("ref_batch100", 8, 100_000),
        result("batch100", 8, 130_000),
        result("v2_batch100", 8, 110_000),
        result("ref_batch1000", 8, 100_000),
        result("batch1000", 8, 150_000),
        result("v2_batch1000", 8, 125_000, errors=2),
        result("ref_batch100", 64, 100_000),
        result("batch100", 64, 130_000),
        result("v2_batch100", 64, 121_000),
        result("grpc_batch100", 64, 140_000, errors=1),
        result("ref_uncached", 64, 2_000),
        result("uncached", 64, 3_000),
    ]
    report = comparison_report(results)
    rows = [line for line in report if line.startswith("| 1")]
    assert rows == [
        "| 100 | 8 | 100,000 | 130,000 | 1.30 | 110,000 | 1.10 | 0 | no: V2 below 1.2 | - | - |",
        "| 1,000 | 8 | 100,000 | 150,000 | 1.50 | 125,000 | 1.25 | 2 | no: 2 errors | - | - |",
        # The gRPC face is reported beside them, outside the target.
        "| 100 | 64 | 100,000 | 130,000 | 1.30 | 121,000 | 1.21 | 0 | yes "
        "| 140,000 | 1.40 (1 errors) |",
        "| 1 | 64 | 2,000 | 3,000 | 1.50 | - | - | 0 | — | - | - |",
    ]
    assert report[-2] == f"Target: {TARGET}: not met: 1 of 4 cases (1 not measured)."


def test_a_run_without_the_reference_has_no_comparison() -> None:
    assert comparison_report([result("batch100", 8, 130_000)]) == []


def test_a_reference_row_names_no_workers_and_no_bare_ratio() -> None:
    row = format_row(result("ref_batch100", 64, 100_000))
    assert row.startswith("| ref_batch100 | 64 | - | 1,000 | 100,000 |")
    assert "| - | - | - |" in row
