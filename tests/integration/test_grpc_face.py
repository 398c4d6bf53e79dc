"""The Open Inference Protocol over gRPC (gateway/grpc_face.py), driven by tritonclient's gRPC
client against a real stack: Redis, a worker and the gateway, its gRPC face on a port of its
own. Its answers are `/predict`'s for the same rows."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from gateway.oip_grpc import open_inference_grpc_pb2 as pb
from gateway.oip_grpc.open_inference_grpc_pb2_grpc import GRPCInferenceServiceStub
from scripts.stack import ROOT, LocalStack, command, free_port
from tests.support.processes import started_stack
from tests.support.tensors import fresh_rows, predicted_items

OUTPUTS = ["label", "probabilities", "class_index"]


@pytest.fixture(scope="module")
def grpc_stack(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[tuple[LocalStack, str]]:
    """A stack whose gateway serves gRPC on a free port; its address."""
    port = free_port()
    with started_stack(tmp_path_factory.mktemp("stack"), model_dir, GRPC_PORT=str(port)) as local:
        yield local, f"127.0.0.1:{port}"


@pytest.fixture
def triton(grpc_stack: tuple[LocalStack, str]) -> Iterator[grpcclient.InferenceServerClient]:
    client = grpcclient.InferenceServerClient(grpc_stack[1])
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def http(grpc_stack: tuple[LocalStack, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=grpc_stack[0].base_url, timeout=30) as client:
        yield client


def _input(values: np.ndarray, datatype: str = "FP64") -> grpcclient.InferInput:
    tensor = grpcclient.InferInput("input", list(values.shape), datatype)
    tensor.set_data_from_numpy(values)
    return tensor


def _refused(call: Any) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as refused:
        call()
    return refused.value


def test_health_and_metadata(triton: grpcclient.InferenceServerClient, http: httpx.Client) -> None:
    served = http.get("/model").json()["version"]
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready("iris")
    assert triton.is_model_ready("iris", served)
    assert not triton.is_model_ready("other")
    assert not triton.is_model_ready("iris", "rf-000000000000")
    server = triton.get_server_metadata(as_json=True)
    assert server["name"] == "irisq"
    assert server["version"]
    model = triton.get_model_metadata("iris", as_json=True)
    assert model["name"] == "iris"
    assert model["versions"] == [served]
    assert model["inputs"] == [{"name": "input", "datatype": "FP64", "shape": ["-1", "4"]}]
    assert [output["name"] for output in model["outputs"]] == OUTPUTS
    assert triton.get_model_metadata("iris", served, as_json=True)["versions"] == [served]


@pytest.mark.parametrize("rows", [1, 1000])
@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_infer_answers_as_predict_does(
    triton: grpcclient.InferenceServerClient, http: httpx.Client, rows: int, datatype: str
) -> None:
    values = fresh_rows(rows, "float32" if datatype == "FP32" else "float64")
    outputs = [grpcclient.InferRequestedOutput(name) for name in OUTPUTS]
    result = triton.infer("iris", [_input(values, datatype)], outputs=outputs, request_id="r-7")
    expected = predicted_items(http, values)
    model = http.get("/model").json()
    labels = result.as_numpy("label")
    assert labels.shape == (rows,)
    assert [label.decode() for label in labels] == [item["prediction"] for item in expected]
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float64
    assert probabilities.tolist() == [
        [item["probabilities"][name] for name in model["classes"]] for item in expected
    ]
    class_index = result.as_numpy("class_index")
    assert class_index.dtype == np.int64
    assert class_index.tolist() == [item["class_index"] for item in expected]
    response = result.get_response()
    assert response.id == "r-7"
    assert response.model_name == "iris"
    assert response.model_version == model["version"]


def test_only_the_requested_outputs_are_answered(triton: grpcclient.InferenceServerClient) -> None:
    outputs = [grpcclient.InferRequestedOutput("class_index")]
    result = triton.infer("iris", [_input(fresh_rows(3, "float64"))], outputs=outputs)
    assert [output.name for output in result.get_response().outputs] == ["class_index"]
    assert result.as_numpy("class_index").shape == (3,)
    assert result.as_numpy("label") is None
    every = triton.infer("iris", [_input(fresh_rows(2, "float64"))])
    assert [output.name for output in every.get_response().outputs] == OUTPUTS


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_typed_contents_are_read_as_raw_ones_are(
    grpc_stack: tuple[LocalStack, str], http: httpx.Client, datatype: str
) -> None:
    """Not every client sends raw_input_contents: `contents.fp32_contents`/`fp64_contents`."""
    values = fresh_rows(2, "float64")
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype=datatype, shape=[2, 4])
    typed = tensor.contents
    (typed.fp32_contents if datatype == "FP32" else typed.fp64_contents).extend(values.ravel())
    request = pb.ModelInferRequest(model_name="iris", inputs=[tensor])
    request.outputs.add(name="label")
    with grpc.insecure_channel(grpc_stack[1]) as channel:
        response = GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    as_float32 = values.astype(np.float32) if datatype == "FP32" else values
    expected = [item["prediction"] for item in predicted_items(http, as_float32)]
    raw, decoded = response.raw_output_contents[0], []
    while raw:
        length = int.from_bytes(raw[:4], "little")
        decoded.append(raw[4 : 4 + length].decode())
        raw = raw[4 + length :]
    assert decoded == expected


def test_unknown_model_or_version_is_not_found(triton: grpcclient.InferenceServerClient) -> None:
    tensor = _input(fresh_rows(1, "float64"))
    refused = _refused(lambda: triton.infer("other", [tensor]))
    assert refused.status() == "StatusCode.NOT_FOUND"
    assert "unknown model 'other'" in refused.message()
    refused = _refused(lambda: triton.infer("iris", [tensor], model_version="rf-000000000000"))
    assert refused.status() == "StatusCode.NOT_FOUND"
    assert "rf-000000000000" in refused.message()
    refused = _refused(lambda: triton.get_model_metadata("other"))
    assert refused.status() == "StatusCode.NOT_FOUND"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        (np.array([[5.1, 3.5, 1.4]]), ["shape [1, 3]"]),
        (np.array([[5.1, np.nan, 1.4, 0.2]]), ["row 0", "sepal_width", "nan"]),
        (np.array([[5.1, 3.5, 1.4, 0.0]]), ["row 0", "petal_width", "0.0"]),
        (np.array([[5.1, 3.5, 101.0, 0.2]]), ["row 0", "petal_length", "101.0"]),
    ],
    ids=["wrong shape", "NaN", "zero", "above 100"],
)
def test_bad_input_is_an_invalid_argument_naming_the_problem(
    triton: grpcclient.InferenceServerClient, values: np.ndarray, named: list[str]
) -> None:
    refused = _refused(lambda: triton.infer("iris", [_input(values)]))
    assert refused.status() == "StatusCode.INVALID_ARGUMENT"
    assert all(part in refused.message() for part in named), refused.message()


def test_other_tensors_and_outputs_are_invalid_arguments(
    triton: grpcclient.InferenceServerClient,
) -> None:
    values = fresh_rows(1, "float64")
    ints = grpcclient.InferInput("input", [1, 4], "INT32")
    ints.set_data_from_numpy(values.astype(np.int32))
    named = grpcclient.InferInput("features", [1, 4], "FP64")
    named.set_data_from_numpy(values)
    cases = [
        (lambda: triton.infer("iris", [ints]), "datatype INT32"),
        (lambda: triton.infer("iris", [named]), "'features'"),
        (
            lambda: triton.infer(
                "iris", [_input(values)], outputs=[grpcclient.InferRequestedOutput("species")]
            ),
            "'species'",
        ),
        (lambda: triton.infer("iris", [_input(fresh_rows(1001, "float64"))]), "MAX_ITEMS"),
    ]
    for call, named_in_message in cases:
        refused = _refused(call)
        assert refused.status() == "StatusCode.INVALID_ARGUMENT", refused
        assert named_in_message in refused.message()


def test_calls_are_counted_and_ready_checks_the_face(
    triton: grpcclient.InferenceServerClient, http: httpx.Client
) -> None:
    triton.infer("iris", [_input(fresh_rows(1, "float64"))])
    _refused(lambda: triton.infer("other", [_input(fresh_rows(1, "float64"))]))
    metrics = http.get("/metrics").text
    assert 'grpc_server_handled_total{grpc_code="OK",grpc_method="ModelInfer"}' in metrics
    assert 'grpc_server_handled_total{grpc_code="NOT_FOUND",grpc_method="ModelInfer"}' in metrics
    assert 'grpc_server_handling_seconds_count{grpc_method="ModelInfer"}' in metrics
    ready = http.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["grpc"] == "ok"


def test_a_grpc_port_in_use_stops_the_gateway_naming_it(stack: LocalStack) -> None:
    """As a taken HTTP port does: the gateway exits at start, before it connects anything."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        gateway = subprocess.run(
            command("gateway"),
            env=stack.env(GRPC_PORT=str(port)),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert gateway.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port} (GRPC_HOST, GRPC_PORT)" in gateway.stderr


def test_grpc_port_0_turns_the_face_off(stack: LocalStack) -> None:
    stack.start_redis()
    stack.start_worker()
    stack.start_gateway(GRPC_PORT="0")
    ready = httpx.get(f"{stack.base_url}/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert "grpc" not in ready.json()["checks"]
