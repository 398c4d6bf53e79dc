"""tritonclient's HTTP client, as teams use it, against irisq's Open Inference Protocol face."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from scripts.stack import LocalStack
from tests.support.tensors import fresh_rows, predicted_items


@pytest.fixture
def triton(running_stack: LocalStack) -> Iterator[httpclient.InferenceServerClient]:
    client = httpclient.InferenceServerClient(running_stack.base_url.removeprefix("http://"))
    try:
        yield client
    finally:
        client.close()


def test_health_and_metadata(
    triton: httpclient.InferenceServerClient, client: httpx.Client
) -> None:
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready("iris")
    assert not triton.is_model_ready("other")
    server = triton.get_server_metadata()
    assert server["name"] == "irisq"
    assert "binary_tensor_data" in server["extensions"]
    model = triton.get_model_metadata("iris")
    assert model["versions"] == [client.get("/model").json()["version"]]
    assert model["inputs"][0]["shape"] == [-1, 4]


@pytest.mark.parametrize("rows", [1, 1000])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("binary", [True, False])
def test_infer_answers_as_predict_does(
    triton: httpclient.InferenceServerClient,
    client: httpx.Client,
    rows: int,
    dtype: str,
    binary: bool,
) -> None:
    values = fresh_rows(rows, dtype)
    datatype = "FP32" if dtype == "float32" else "FP64"
    tensor = httpclient.InferInput("input", list(values.shape), datatype)
    tensor.set_data_from_numpy(values, binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput(name, binary_data=binary)
        for name in ("label", "probabilities", "class_index")
    ]
    result = triton.infer("iris", [tensor], outputs=outputs, request_id="r1")
    expected = predicted_items(client, values)
    # The client gives BYTES as bytes from binary data, as str from JSON.
    labels = [
        label.decode() if isinstance(label, bytes) else label for label in result.as_numpy("label")
    ]
    assert labels == [item["prediction"] for item in expected]
    assert result.as_numpy("probabilities").tolist() == [
        list(item["probabilities"].values()) for item in expected
    ]
    assert result.as_numpy("class_index").tolist() == [item["class_index"] for item in expected]
    response = result.get_response()
    assert response["id"] == "r1"
    assert response["model_version"] == client.get("/model").json()["version"]


def test_infer_with_the_clients_defaults(triton: httpclient.InferenceServerClient) -> None:
    """No outputs named: the client asks for every output in binary form."""
    values = fresh_rows(3, "float32")
    tensor = httpclient.InferInput("input", [3, 4], "FP32")
    tensor.set_data_from_numpy(values)
    result = triton.infer("iris", [tensor])
    assert result.as_numpy("label").shape == (3,)
    assert result.as_numpy("probabilities").shape == (3, 3)
    assert result.as_numpy("class_index").dtype == np.int64


def test_errors_reach_the_client_with_their_message(
    triton: httpclient.InferenceServerClient,
) -> None:
    tensor = httpclient.InferInput("input", [1, 4], "FP64")
    tensor.set_data_from_numpy(np.array([[5.1, 3.5, 1.4, 0.0]]))
    with pytest.raises(InferenceServerException, match="petal_width"):
        triton.infer("iris", [tensor])
    with pytest.raises(InferenceServerException, match="unknown model"):
        triton.infer("other", [tensor])
    with pytest.raises(InferenceServerException, match="unknown version"):
        triton.infer("iris", [tensor], model_version="rf-000000000000")
