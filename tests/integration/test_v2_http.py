"""The Open Inference Protocol over REST, in raw HTTP: the specification's JSON forms, the
binary tensor data extension, errors and limits, against a real gateway, worker and Redis."""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import numpy as np
import pytest

from contract.http import FEATURES
from tests.support.items import fresh_item

INFER = "/v2/models/iris/infer"


def _rows(n: int) -> list[list[float]]:
    return [[item[f] for f in FEATURES] for item in (fresh_item() for _ in range(n))]


def _predicted(client: httpx.Client, rows: list[list[float]]) -> list[dict[str, Any]]:
    items = [dict(zip(FEATURES, row, strict=True)) for row in rows]
    response = client.post("/predict", json={"items": items})
    assert response.status_code == 200, response.text
    answered: list[dict[str, Any]] = response.json()["items"]
    return answered


def _outputs(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {output["name"]: output for output in body["outputs"]}


def test_server_metadata_and_health(client: httpx.Client) -> None:
    server = client.get("/v2").json()
    assert server["name"] == "irisq"
    assert "binary_tensor_data" in server["extensions"]
    assert server["version"]
    assert client.get("/v2/health/live").json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"ready": True})


def test_model_metadata_names_the_input_the_outputs_and_the_served_version(
    client: httpx.Client,
) -> None:
    served = client.get("/model").json()["version"]
    model = client.get("/v2/models/iris").json()
    assert model["name"] == "iris"
    assert model["versions"] == [served]
    assert model["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert [(o["name"], o["datatype"], o["shape"]) for o in model["outputs"]] == [
        ("label", "BYTES", [-1]),
        ("probabilities", "FP64", [-1, 3]),
        ("class_index", "INT64", [-1]),
    ]
    assert model["parameters"]["features"] == list(FEATURES)
    assert client.get(f"/v2/models/iris/versions/{served}").json()["versions"] == [served]
    assert client.get("/v2/models/iris/ready").status_code == 200
    assert client.get(f"/v2/models/iris/versions/{served}/ready").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/v2/models/other", "/v2/models/iris/versions/rf-000000000000", "/v2/models/other/ready"],
)
def test_an_unknown_model_or_version_is_a_404_in_the_protocols_error_form(
    client: httpx.Client, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("datatype", ["FP64", "FP32"])
def test_json_infer_answers_as_predict_does(
    client: httpx.Client, datatype: str, nested: bool
) -> None:
    rows = _rows(5)
    if datatype == "FP32":
        # Values an FP32 holds exactly, so both requests carry the very same rows.
        rows = [[float(np.float32(v)) for v in row] for row in rows]
    data: list[Any] = rows if nested else [v for row in rows for v in row]
    body = {"id": "req-7", "inputs": [{"name": "input", "shape": [5, 4], "datatype": datatype,
                                       "data": data}]}  # fmt: skip
    response = client.post(INFER, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"] == "req-7"
    assert answer["model_name"] == "iris"
    outputs = _outputs(answer)
    expected = _predicted(client, rows)
    assert outputs["label"]["data"] == [item["prediction"] for item in expected]
    assert outputs["class_index"]["data"] == [item["class_index"] for item in expected]
    assert outputs["probabilities"]["shape"] == [5, 3]
    assert outputs["probabilities"]["data"] == [
        p for item in expected for p in item["probabilities"].values()
    ]
    assert answer["model_version"] == client.get("/model").json()["version"]


def test_a_request_chooses_its_outputs(client: httpx.Client) -> None:
    body = {
        "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": _rows(1)[0]}],
        "outputs": [{"name": "class_index"}],
    }
    answer = client.post(INFER, json=body).json()
    assert [output["name"] for output in answer["outputs"]] == ["class_index"]
    assert "id" not in answer


def test_the_binary_extension_carries_inputs_and_outputs(client: httpx.Client) -> None:
    rows = _rows(3)
    tensor = np.asarray(rows, dtype="<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": [3, 4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(tensor)},
                }
            ],
            "outputs": [
                {"name": "label", "parameters": {"binary_data": True}},
                {"name": "probabilities", "parameters": {"binary_data": True}},
                {"name": "class_index"},
            ],
        }
    ).encode()
    response = client.post(
        INFER,
        content=header + tensor,
        headers={
            "Inference-Header-Content-Length": str(len(header)),
            "Content-Type": "application/octet-stream",
        },
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["Inference-Header-Content-Length"])
    answer = json.loads(response.content[:length])
    binary = response.content[length:]
    outputs = _outputs(answer)
    label_size = outputs["label"]["parameters"]["binary_data_size"]
    labels, at = [], 0
    while at < label_size:
        (size,) = struct.unpack_from("<I", binary, at)
        labels.append(binary[at + 4 : at + 4 + size].decode())
        at += 4 + size
    probabilities = np.frombuffer(
        binary[
            label_size : label_size + outputs["probabilities"]["parameters"]["binary_data_size"]
        ],
        dtype="<f8",
    ).reshape(3, 3)
    expected = _predicted(client, [[float(np.float32(v)) for v in row] for row in rows])
    assert labels == [item["prediction"] for item in expected]
    assert probabilities.tolist() == [list(item["probabilities"].values()) for item in expected]
    assert outputs["class_index"]["data"] == [item["class_index"] for item in expected]


def _tensor(data: list[Any], shape: list[int] | None = None, **fields: Any) -> dict[str, Any]:
    return {"name": "input", "shape": shape or [1, 4], "datatype": "FP64", "data": data, **fields}


@pytest.mark.parametrize(
    ("tensor", "names"),
    [
        (_tensor([1, 2, 3], [1, 3]), "shape"),
        (_tensor([1, 2, 3, 4], datatype="INT32"), "INT32"),
        (_tensor([1, 2, 3, 4], name="x"), "'x'"),
        (_tensor([1, 2, 3, 4], [2, 4]), "holds 8"),
        (_tensor([1, 2, 3, 0]), "petal_width"),
        (_tensor([1, 2, 101, 1]), "petal_length"),
        (_tensor(["a", 2, 3, 4]), "numbers"),
    ],
)
def test_bad_input_is_a_400_that_names_the_problem(
    client: httpx.Client, tensor: dict[str, Any], names: str
) -> None:
    response = client.post(INFER, json={"inputs": [tensor]})
    assert response.status_code == 400, response.text
    assert names in response.json()["error"]


def test_malformed_requests_are_400s_never_500s(client: httpx.Client) -> None:
    for content in (b"{", b"[]", b'{"inputs": 3}', b'{"inputs": [{"name": "input"}]}'):
        response = client.post(INFER, content=content)
        assert response.status_code == 400, (content, response.text)
        assert set(response.json()) == {"error"}
    bad_length = client.post(INFER, content=b"{}", headers={"Inference-Header-Content-Length": "9"})
    assert bad_length.status_code == 400
    unknown_output = client.post(
        INFER,
        json={
            "inputs": [
                {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
            ],
            "outputs": [{"name": "logits"}],
        },
    )
    assert unknown_output.status_code == 400
    assert "logits" in unknown_output.json()["error"]


def test_the_limits_are_predicts(client: httpx.Client) -> None:
    rows = [[5.1, 3.5, 1.4, 0.2]] * 1001
    tensor = {"name": "input", "shape": [1001, 4], "datatype": "FP64", "data": rows}
    too_many = client.post(INFER, json={"inputs": [tensor]})
    assert too_many.status_code == 413
    assert "MAX_ITEMS" in too_many.json()["error"]
    too_large = client.post(INFER, content=b" " * (600 * 1024))
    assert too_large.status_code == 413
    assert set(too_large.json()) == {"error"}


def test_an_unknown_model_or_version_is_a_404_on_infer(client: httpx.Client) -> None:
    tensor = {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
    for path in ("/v2/models/other/infer", "/v2/models/iris/versions/rf-000000000000/infer"):
        response = client.post(path, json={"inputs": [tensor]})
        assert response.status_code == 404, path
        assert set(response.json()) == {"error"}
    served = client.get("/model").json()["version"]
    versioned = client.post(f"/v2/models/iris/versions/{served}/infer", json={"inputs": [tensor]})
    assert versioned.status_code == 200
    assert versioned.json()["model_version"] == served
