"""The Open Inference Protocol's model, whichever transport asks (REST: gateway/routes/v2.py,
gRPC: gateway/grpc_face.py): validate the rows, predict them on `/predict`'s path, and give
the answer as tensors.

V2 is synchronous: a request waits PREDICT_WAIT_SECONDS for its job, then ends with an error
(504) that names the job, whose result `GET /jobs/{id}` keeps giving.
"""

from __future__ import annotations

import asyncio
import math
import struct
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from redis.exceptions import RedisError
from starlette.types import Message

from contract.http import FEATURES, HIGHEST, LOWEST
from contract.jobs import JobStatus
from contract.oip import (
    EXTENSIONS,
    INPUT_DATATYPES,
    INPUT_NAME,
    MODEL_NAME,
    OUTPUT_LABEL,
    OUTPUT_PROBABILITIES,
    OUTPUTS,
    SERVER_NAME,
    ModelMetadataV2,
    ServerMetadata,
    model_metadata,
)
from gateway.errors import ProblemError
from gateway.prediction_path import answered_items, look_up_or_submit
from gateway.services import Services

RAW_DTYPES = {"FP64": "<f8", "INT64": "<i8"}
INPUT_DTYPES: dict[str, np.dtype[Any]] = {"FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}


class InferenceError(Exception):
    """A V2 request that cannot be answered: `status` is the HTTP status the protocol names."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Inferred:
    model_version: str
    # The class names, in the order of the probabilities' columns.
    classes: list[str]
    labels: list[str]
    probabilities: list[list[float]]
    class_index: list[int]
    job_id: str | None


def server_metadata() -> ServerMetadata:
    try:
        irisq = version("irisq")
    except PackageNotFoundError:
        irisq = "0"
    return ServerMetadata(name=SERVER_NAME, version=irisq, extensions=EXTENSIONS)


def check_model(services: Services, name: str, model_version: str | None) -> None:
    """404 for a model other than `iris`, or a version that is not answering now."""
    if name != MODEL_NAME:
        raise InferenceError(404, f"unknown model {name!r}: irisq serves {MODEL_NAME!r}")
    if model_version is not None and model_version not in _versions(services):
        raise InferenceError(
            404,
            f"unknown version {model_version!r} of model {name!r}: "
            f"the versions answering are {', '.join(_versions(services)) or 'none'}",
        )


def _versions(services: Services) -> list[str]:
    rollout = services.model.rollout
    return rollout.versions() if rollout is not None else []


async def metadata(services: Services, name: str, model_version: str | None) -> ModelMetadataV2:
    try:
        await services.model.fetch()
    except RedisError as exc:
        raise InferenceError(503, f"the model is unknown: Redis is unreachable ({exc})") from exc
    check_model(services, name, model_version)
    known = services.model.metadata
    if known is None:
        raise InferenceError(503, "no worker has announced a model yet")
    versions = [model_version] if model_version is not None else _versions(services)
    return model_metadata(versions, known.classes)


async def model_ready(services: Services, name: str, model_version: str | None) -> bool:
    try:
        await services.model.fetch()
        check_model(services, name, model_version)
    except (RedisError, InferenceError):
        return False
    return services.model.metadata is not None and services.model.version is not None


def rows_of(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The input as validated rows: shape [N, 4], every value a measurement in (0, 100]."""
    if values.ndim != 2 or values.shape[1] != len(FEATURES) or values.shape[0] < 1:
        raise InferenceError(
            400,
            f"input: shape {list(values.shape)} is not [N, {len(FEATURES)}] "
            f"({', '.join(FEATURES)} per row, N at least 1)",
        )
    bad = ~(np.isfinite(values) & (values > LOWEST) & (values <= HIGHEST))
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise InferenceError(
            400,
            f"input: row {row}, {FEATURES[column]} is {float(values[row, column])!r}: each value "
            f"must be a finite measurement in ({LOWEST:g}, {HIGHEST:g}] cm",
        )
    return values


def input_tensor(names: list[str], datatype: str, shape: list[int]) -> tuple[np.dtype[Any], int]:
    """The one input's element type and value count, from its name, datatype and shape as
    a request declares them (either transport); its values are `rows_of`'s to check."""
    if names != [INPUT_NAME]:
        listed = ", ".join(repr(name) for name in names) or "none"
        raise InferenceError(400, f"inputs: expected one tensor {INPUT_NAME!r}, got {listed}")
    dtype = INPUT_DTYPES.get(datatype)
    if dtype is None:
        raise InferenceError(
            400, f"input: datatype {datatype} is not one of {', '.join(INPUT_DATATYPES)}"
        )
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise InferenceError(400, f"input: shape {shape} is not a tensor's shape")
    return dtype, math.prod(shape)


def check_output(name: str) -> None:
    if name not in OUTPUTS:
        raise InferenceError(400, f"outputs: {name!r} is not one of {', '.join(OUTPUTS)}")


async def _never(*_: object) -> Message:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def infer(
    services: Services,
    name: str,
    model_version: str | None,
    values: npt.NDArray[np.float64],
) -> Inferred:
    """Predict the rows on `/predict`'s path: cache, coalesced job, metrics."""
    check_model(services, name, model_version)
    rows = rows_of(values)
    settings = services.settings
    if len(rows) > settings.max_items:
        raise InferenceError(
            413, f"input: {len(rows)} rows, more than MAX_ITEMS ({settings.max_items})"
        )
    try:
        submitted = await look_up_or_submit(services, rows, is_async=False)
    except ProblemError as exc:
        raise InferenceError(exc.status, exc.detail) from exc
    if model_version is not None and submitted.version != model_version:
        # Served a moment ago, no more: the cache answered under the version served now.
        check_model(services, name, model_version)
    job_id, job = submitted.job_id, submitted.job
    if job_id is None or job is None:
        # Every row cached: the entries are the items.
        cached = [orjson.loads(entry) for entry in submitted.cached if entry is not None]
        return _inferred(submitted.version or "", cached, None)
    outcome = await services.listener.wait(job_id, job, settings.predict_wait_seconds, _never)
    if outcome is None:
        raise InferenceError(
            504,
            f"the prediction did not finish within PREDICT_WAIT_SECONDS "
            f"({settings.predict_wait_seconds:g} s); its job {job_id} goes on: "
            f"GET /jobs/{job_id}",
        )
    if outcome["status"] == JobStatus.FAILED:
        services.metrics.jobs_failed.inc()
        raise InferenceError(500, f"job {job_id} failed: {outcome['error']}")
    items = orjson.loads(answered_items(submitted, outcome))
    return _inferred(outcome["model_version"], items, job_id)


def _inferred(model_version: str, items: list[dict[str, Any]], job_id: str | None) -> Inferred:
    probabilities: list[dict[str, float]] = [item["probabilities"] for item in items]
    return Inferred(
        model_version=model_version,
        classes=list(probabilities[0]) if probabilities else [],
        labels=[item["prediction"] for item in items],
        probabilities=[list(p.values()) for p in probabilities],
        class_index=[item["class_index"] for item in items],
        job_id=job_id,
    )


def _bytes_elements(values: list[str]) -> bytes:
    """BYTES in the binary form: each element's length (4 bytes, little-endian), then it."""
    parts: list[bytes] = []
    for value in values:
        data = value.encode()
        parts += (struct.pack("<I", len(data)), data)
    return b"".join(parts)


def output_values(name: str, inferred: Inferred) -> tuple[str, list[int], list[Any]]:
    """An output's datatype, shape and values (row-major), as JSON tensors carry them."""
    rows = len(inferred.labels)
    if name == OUTPUT_LABEL:
        return "BYTES", [rows], inferred.labels
    if name == OUTPUT_PROBABILITIES:
        flat = [p for row in inferred.probabilities for p in row]
        return "FP64", [rows, len(inferred.classes)], flat
    return "INT64", [rows], inferred.class_index


def output_raw(name: str, inferred: Inferred) -> tuple[str, list[int], bytes]:
    """An output's datatype, shape and raw contents (little-endian, row-major): the binary
    extension's and gRPC's form."""
    datatype, shape, values = output_values(name, inferred)
    if name == OUTPUT_LABEL:
        return datatype, shape, _bytes_elements(values)
    return datatype, shape, np.asarray(values, RAW_DTYPES[datatype]).tobytes()
