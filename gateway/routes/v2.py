"""The Open Inference Protocol (KServe V2) over REST, beside irisq's own `/predict`.

Every V2 client (tritonclient, KServe's, MLServer's) works against irisq unchanged and gets
irisq's cache, queue, coalescing and metrics: an infer request takes `/predict`'s path
(gateway/inference.py). JSON tensors and the binary tensor data extension are both read and
written. Errors are the protocol's `{"error": "..."}`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.responses import Response

from contract.oip import (
    BINARY_DATA,
    BINARY_DATA_OUTPUT,
    BINARY_DATA_SIZE,
    HEADER_LENGTH,
    MODEL_NAME,
    OUTPUTS,
    InferenceErrorBody,
    InferenceRequest,
    InferenceResponse,
    Liveness,
    ModelMetadataV2,
    Readiness,
    ServerMetadata,
)
from gateway.fenced_internals import RequestRoute
from gateway.inference import (
    InferenceError,
    Inferred,
    check_output,
    infer,
    input_tensor,
    metadata,
    model_ready,
    output_raw,
    output_values,
    server_metadata,
)
from gateway.routes.predict import request_body
from gateway.services import Services

router = APIRouter(prefix="/v2", tags=["open inference protocol"], route_class=RequestRoute)
# The infer routes, apart: the app tries them right after `/predict`, before the routes that
# are asked seldom (gateway/app.py).
infer_router = APIRouter(prefix="/v2", tags=["open inference protocol"], route_class=RequestRoute)

ERROR: dict[str, Any] = {"model": InferenceErrorBody}
Responses = dict[int | str, dict[str, Any]]


def _path_parameters(path: str) -> dict[str, Any]:
    """The path's parameters for the OpenAPI document: the endpoints read the request
    themselves (a RequestRoute), so FastAPI does not see them."""
    described = {
        "name": f"the model's name: {MODEL_NAME}",
        "version": "a model version answering now (GET /model's `answering`)",
    }
    return {
        "parameters": [
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": {"type": "string"},
            }
            for name, description in described.items()
            if f"{{{name}}}" in path
        ]
    }


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _version(request: Request) -> str | None:
    version: str | None = request.path_params.get("version")
    return version


@router.get("", summary="Server metadata", responses={200: {"model": ServerMetadata}})
async def server(request: Request) -> Response:
    return _json(server_metadata().model_dump())


@router.get("/health/live", summary="Server liveness", responses={200: {"model": Liveness}})
async def live(request: Request) -> Response:
    return _json({"live": True})


@router.get(
    "/health/ready",
    summary="Server readiness: Redis answers and a model is served",
    responses={200: {"model": Readiness}, 503: {"model": Readiness}},
)
async def ready(request: Request) -> Response:
    is_ready = await model_ready(_services(request), MODEL_NAME, None)
    return _json({"ready": is_ready}, 200 if is_ready else 503)


async def _metadata(request: Request) -> Response:
    try:
        found = await metadata(_services(request), request.path_params["name"], _version(request))
    except InferenceError as exc:
        return _error(exc.status, exc.message)
    return _json(found.model_dump())


async def _model_ready(request: Request) -> Response:
    services = _services(request)
    name, version = request.path_params["name"], _version(request)
    if name != MODEL_NAME:
        return _error(404, f"unknown model {name!r}: irisq serves {MODEL_NAME!r}")
    is_ready = await model_ready(services, name, version)
    return _json({"ready": is_ready}, 200 if is_ready else 503)


METADATA: Responses = {200: {"model": ModelMetadataV2}, 404: ERROR, 503: ERROR}
READY: Responses = {200: {"model": Readiness}, 404: ERROR, 503: {"model": Readiness}}
for path in ("/models/{name}", "/models/{name}/versions/{version}"):
    router.add_api_route(
        path,
        _metadata,
        methods=["GET"],
        summary="Model metadata",
        responses=METADATA,
        openapi_extra=_path_parameters(path),
    )
    router.add_api_route(
        f"{path}/ready",
        _model_ready,
        methods=["GET"],
        summary="Model readiness",
        responses=READY,
        openapi_extra=_path_parameters(path),
    )


class _Parsed:
    """An infer request: its JSON header and the binary part after it (the extension)."""

    def __init__(self, header: InferenceRequest, binary: bytes) -> None:
        self.header = header
        self.binary = binary


def _parse(body: bytes, header_length: str | None) -> _Parsed:
    binary = b""
    if header_length is not None:
        try:
            length = int(header_length)
        except ValueError:
            length = -1
        if not 0 <= length <= len(body):
            raise InferenceError(
                400, f"{HEADER_LENGTH} is {header_length!r}, not a length within the body"
            )
        body, binary = body[:length], body[length:]
    try:
        return _Parsed(InferenceRequest.model_validate_json(body), binary)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InferenceError(400, f"invalid inference request: {where}: {first['msg']}") from None


def _input_rows(parsed: _Parsed) -> npt.NDArray[np.float64]:
    inputs = parsed.header.inputs
    first = inputs[0] if inputs else None
    dtype, count = input_tensor(
        [t.name for t in inputs], first.datatype if first else "", first.shape if first else []
    )
    tensor = inputs[0]
    size = (tensor.parameters or {}).get(BINARY_DATA_SIZE)
    if size is not None:
        if not isinstance(size, int) or size != count * dtype.itemsize:
            raise InferenceError(
                400,
                f"input: {BINARY_DATA_SIZE} {size!r} is not {count} {tensor.datatype} values "
                f"({count * dtype.itemsize} bytes)",
            )
        if len(parsed.binary) < size:
            raise InferenceError(
                400, f"input: {size} bytes of binary data declared, {len(parsed.binary)} sent"
            )
        flat = np.frombuffer(parsed.binary[:size], dtype=dtype)
    elif tensor.data is None:
        raise InferenceError(400, "input: neither data nor binary_data_size")
    else:
        try:
            flat = np.asarray(tensor.data, dtype=dtype).reshape(-1)
        except (TypeError, ValueError):
            raise InferenceError(400, f"input: data is not {tensor.datatype} numbers") from None
        if flat.size != count:
            raise InferenceError(
                400, f"input: {flat.size} values in data, shape {tensor.shape} holds {count}"
            )
    return flat.astype(np.float64).reshape(tensor.shape)


def _requested(parsed: _Parsed) -> list[tuple[str, bool]]:
    """The outputs to answer, in order, each with whether its data goes binary."""
    header = parsed.header
    binary_default = bool((header.parameters or {}).get(BINARY_DATA_OUTPUT, False))
    if not header.outputs:
        return [(name, binary_default) for name in OUTPUTS]
    requested = []
    for output in header.outputs:
        check_output(output.name)
        binary = (output.parameters or {}).get(BINARY_DATA, binary_default)
        requested.append((output.name, bool(binary)))
    return requested


def _answer(parsed: _Parsed, inferred: Inferred) -> Response:
    outputs: list[dict[str, Any]] = []
    binaries: list[bytes] = []
    for name, binary in _requested(parsed):
        output: dict[str, Any] = {"name": name}
        if binary:
            output["datatype"], output["shape"], data = output_raw(name, inferred)
            output["parameters"] = {BINARY_DATA_SIZE: len(data)}
            binaries.append(data)
        else:
            output["datatype"], output["shape"], output["data"] = output_values(name, inferred)
        outputs.append(output)
    body: dict[str, Any] = {
        "model_name": MODEL_NAME,
        "model_version": inferred.model_version,
        "outputs": outputs,
    }
    if parsed.header.id is not None:
        body["id"] = parsed.header.id
    header = orjson.dumps(body)
    if not binaries:
        return Response(header, media_type="application/json")
    return Response(
        header + b"".join(binaries),
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(len(header))},
    )


async def _infer(request: Request) -> Response:
    services = _services(request)
    try:
        parsed = _parse(await request.body(), request.headers.get(HEADER_LENGTH.lower()))
        rows = _input_rows(parsed)
        # The outputs are checked before any work is sent.
        _requested(parsed)
        inferred = await infer(services, request.path_params["name"], _version(request), rows)
    except InferenceError as exc:
        return _error(exc.status, exc.message)
    except RedisError as exc:
        return _error(503, f"Redis is unreachable ({type(exc).__name__}); try again")
    return _answer(parsed, inferred)


INFER_BODY = {"requestBody": request_body(InferenceRequest)}
INFER_RESPONSES: Responses = {
    200: {"model": InferenceResponse, "description": "The outputs (JSON, or the binary form)"},
    400: {"model": InferenceErrorBody, "description": "Invalid input; the error names it"},
    404: {"model": InferenceErrorBody, "description": "Unknown model or version"},
    413: {"model": InferenceErrorBody, "description": "More rows than MAX_ITEMS, or too large"},
    500: {"model": InferenceErrorBody, "description": "The job failed on the worker"},
    503: {"model": InferenceErrorBody, "description": "Redis unavailable, or at capacity"},
    504: {
        "model": InferenceErrorBody,
        "description": "Not done within PREDICT_WAIT_SECONDS; the error names the job, whose "
        "result GET /jobs/{id} gives",
    },
}
for path in ("/models/{name}/infer", "/models/{name}/versions/{version}/infer"):
    infer_router.add_api_route(
        path,
        _infer,
        methods=["POST"],
        summary="Infer: predict the species of N flowers",
        openapi_extra={**INFER_BODY, **_path_parameters(path)},
        responses=INFER_RESPONSES,
    )
