"""The Open Inference Protocol (KServe V2) as irisq speaks it: names, shapes, and the REST
documents (https://github.com/kserve/open-inference-protocol).

irisq serves one model, `iris`: one input tensor of shape [N, 4] (FP32 or FP64, the features
in FEATURES order) and three outputs: the predicted label (BYTES [N]), the class
probabilities (FP64 [N, classes]) and the class index (INT64 [N]). Its versions are the model
registry's (contract/rollout.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contract.http import FEATURES

SERVER_NAME = "irisq"
MODEL_NAME = "iris"
PLATFORM = "scikit-learn"
INPUT_NAME = "input"
OUTPUT_LABEL = "label"
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_CLASS_INDEX = "class_index"
OUTPUTS = (OUTPUT_LABEL, OUTPUT_PROBABILITIES, OUTPUT_CLASS_INDEX)
INPUT_DATATYPES = ("FP32", "FP64")
# The binary tensor data extension: the JSON header's length, then the tensors' bytes.
BINARY_EXTENSION = "binary_tensor_data"
EXTENSIONS = [BINARY_EXTENSION]
HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_DATA_SIZE = "binary_data_size"
BINARY_DATA = "binary_data"
BINARY_DATA_OUTPUT = "binary_data_output"


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ModelMetadataV2(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    # The features in the order the input's columns take them, and the class names in the
    # order of the probabilities' columns (the class index counts in it).
    parameters: dict[str, Any] = Field(default_factory=dict)


def model_metadata(versions: list[str], classes: list[str]) -> ModelMetadataV2:
    return ModelMetadataV2(
        name=MODEL_NAME,
        versions=versions,
        platform=PLATFORM,
        inputs=[TensorMetadata(name=INPUT_NAME, datatype="FP64", shape=[-1, len(FEATURES)])],
        outputs=[
            TensorMetadata(name=OUTPUT_LABEL, datatype="BYTES", shape=[-1]),
            TensorMetadata(name=OUTPUT_PROBABILITIES, datatype="FP64", shape=[-1, len(classes)]),
            TensorMetadata(name=OUTPUT_CLASS_INDEX, datatype="INT64", shape=[-1]),
        ],
        parameters={"features": list(FEATURES), "classes": classes},
    )


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    # Flat or nested numbers, row after row; absent when the binary extension carries them.
    data: list[Any] | None = None


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "42",
                    "inputs": [
                        {
                            "name": INPUT_NAME,
                            "shape": [1, 4],
                            "datatype": "FP64",
                            "data": [5.1, 3.5, 1.4, 0.2],
                        }
                    ],
                }
            ]
        }
    )

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[ResponseOutput]


class InferenceErrorBody(BaseModel):
    error: str


class Liveness(BaseModel):
    live: bool


class Readiness(BaseModel):
    ready: bool
