"""The Open Inference Protocol (KServe V2) over gRPC, on a port of its own (GRPC_PORT).

`inference.GRPCInferenceService` from the specification's .proto (contract/oip/, code
generated into gateway/oip_grpc/ by scripts/gen_grpc.py): ServerLive, ServerReady, ModelReady,
ServerMetadata, ModelMetadata and ModelInfer. A `grpc.aio` server in the gateway's own event
loop, started and stopped by the app's lifespan; an infer request takes the same path as the
REST face's and `/predict`'s (gateway/inference.py): cache, coalesced job, metrics.

Tensors are read from `raw_input_contents` (what tritonclient sends) or from the typed
`contents`, and written as `raw_output_contents` (what tritonclient reads); BYTES in the raw
form are each a 4-byte little-endian length, then the bytes. Errors are gRPC status codes
with the protocol's message: INVALID_ARGUMENT for bad input (too many rows included),
NOT_FOUND for an unknown model or version, UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import numpy as np
import numpy.typing as npt
from redis.exceptions import RedisError

from contract.oip import (
    MODEL_NAME,
    OUTPUTS,
)
from gateway.inference import (
    InferenceError,
    Inferred,
    check_model,
    check_output,
    infer,
    input_tensor,
    metadata,
    model_ready,
    output_raw,
    server_metadata,
)
from gateway.oip_grpc import open_inference_grpc_pb2 as pb
from gateway.oip_grpc.open_inference_grpc_pb2_grpc import (
    GRPCInferenceServiceServicer,
    add_GRPCInferenceServiceServicer_to_server,
)
from gateway.services import Services

log = logging.getLogger("irisq.gateway")

# In-flight calls get this long to finish once the gateway stops; new ones are refused.
# Calls waiting for a job are released at once by the drain (their job goes on).
STOP_GRACE_SECONDS = 5.0
# The protocol's errors carry HTTP statuses (gateway/inference.py); these are their codes.
STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    404: grpc.StatusCode.NOT_FOUND,
    # More rows than MAX_ITEMS: the request is wrong whatever the server's load, so not
    # RESOURCE_EXHAUSTED, which clients retry.
    413: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}

Context = grpc.aio.ServicerContext[Any, Any]
Request = TypeVar("Request")
Response = TypeVar("Response")
Method = Callable[["InferenceServicer", Request, Context], Awaitable[Response]]


def status_code(status: int) -> grpc.StatusCode:
    """The gRPC code of one of the protocol's HTTP statuses."""
    default = grpc.StatusCode.INVALID_ARGUMENT if status < 500 else grpc.StatusCode.INTERNAL
    return STATUS_CODES.get(status, default)


def answered(method: Method[Request, Response]) -> Method[Request, Response]:
    """One RPC: its errors as gRPC status codes with their message, counted and timed."""
    name = method.__name__

    @functools.wraps(method)
    async def handler(self: InferenceServicer, request: Request, context: Context) -> Response:
        started = time.perf_counter()
        code, message = grpc.StatusCode.OK, ""
        try:
            return await method(self, request, context)
        except InferenceError as exc:
            code, message = status_code(exc.status), exc.message
        except RedisError as exc:
            code = grpc.StatusCode.UNAVAILABLE
            message = f"Redis is unreachable ({type(exc).__name__}); try again"
        except asyncio.CancelledError:
            # The client went away or its deadline passed; a job it started goes on.
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception:
            log.exception("gRPC %s failed", name)
            code, message = grpc.StatusCode.INTERNAL, f"{name} failed; the gateway's log says why"
        finally:
            self.services.metrics.observe_grpc(name, code.name, time.perf_counter() - started)
        await context.abort(code, message)

    return handler


class InferenceServicer(GRPCInferenceServiceServicer):
    """The six RPCs of the protocol, on the gateway's services."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @answered
    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: Context
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @answered
    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: Context
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=await model_ready(self.services, MODEL_NAME, None))

    @answered
    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: Context
    ) -> pb.ModelReadyResponse:
        # An unknown model is not ready, as Triton answers, rather than NOT_FOUND.
        ready = await model_ready(self.services, request.name, request.version or None)
        return pb.ModelReadyResponse(ready=ready)

    @answered
    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        server = server_metadata()
        return pb.ServerMetadataResponse(
            name=server.name, version=server.version, extensions=server.extensions
        )

    @answered
    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        found = await metadata(self.services, request.name, request.version or None)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=found.name,
            versions=found.versions,
            platform=found.platform,
            inputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in found.inputs],
            outputs=[
                tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in found.outputs
            ],
            # The features in the input's column order, the classes in the probabilities'.
            properties={
                key: ",".join(map(str, value)) if isinstance(value, list) else str(value)
                for key, value in found.parameters.items()
            },
        )

    @answered
    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: Context
    ) -> pb.ModelInferResponse:
        version = request.model_version or None
        check_model(self.services, request.model_name, version)
        rows = input_rows(request)
        # The outputs are checked before any work is sent.
        outputs = requested_outputs(request)
        inferred = await infer(self.services, request.model_name, version, rows)
        return infer_response(request.id, inferred, outputs)


def input_rows(request: pb.ModelInferRequest) -> npt.NDArray[np.float64]:
    """The one input tensor, FP32 or FP64, raw or typed, in its declared shape (its rows and
    values are checked by gateway/inference.py)."""
    inputs = request.inputs
    first = inputs[0] if inputs else None
    dtype, count = input_tensor(
        [t.name for t in inputs],
        first.datatype if first else "",
        list(first.shape) if first else [],
    )
    tensor = inputs[0]
    shape = list(tensor.shape)
    if request.raw_input_contents:
        if len(request.raw_input_contents) != 1 or tensor.HasField("contents"):
            raise InferenceError(
                400, "raw_input_contents: one entry for the one input, and no contents beside it"
            )
        raw = request.raw_input_contents[0]
        if len(raw) != count * dtype.itemsize:
            raise InferenceError(
                400,
                f"input: raw_input_contents holds {len(raw)} bytes; shape {shape} of "
                f"{tensor.datatype} is {count * dtype.itemsize}",
            )
        flat = np.frombuffer(raw, dtype=dtype)
    else:
        field = "fp32_contents" if tensor.datatype == "FP32" else "fp64_contents"
        values = getattr(tensor.contents, field)
        if len(values) != count:
            raise InferenceError(
                400, f"input: {len(values)} values in contents.{field}, shape {shape} holds {count}"
            )
        flat = np.asarray(values, dtype=dtype)
    return flat.astype(np.float64).reshape(shape)


def requested_outputs(request: pb.ModelInferRequest) -> list[str]:
    """The outputs to answer, in the order asked (all three when none is named)."""
    if not request.outputs:
        return list(OUTPUTS)
    names = [output.name for output in request.outputs]
    for name in names:
        check_output(name)
    return list(dict.fromkeys(names))


def infer_response(
    request_id: str, inferred: Inferred, outputs: list[str]
) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(
        model_name=MODEL_NAME, model_version=inferred.model_version, id=request_id
    )
    for name in outputs:
        datatype, shape, raw = output_raw(name, inferred)
        response.outputs.add(name=name, datatype=datatype, shape=shape)
        response.raw_output_contents.append(raw)
    if inferred.job_id is not None:
        # The job that computed the rows the cache did not hold, as /predict names it.
        response.parameters["job_id"].string_param = inferred.job_id
    return response


def listen_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


class GrpcFace:
    """The gRPC server of one gateway: made and started by the lifespan, drained and stopped
    with it."""

    def __init__(self, server: grpc.aio.Server, address: str) -> None:
        self.server = server
        self.address = address
        self.stopping: asyncio.Task[None] | None = None

    @classmethod
    def listen(cls, services: Services) -> GrpcFace:
        """Hold GRPC_HOST:GRPC_PORT (OSError naming it when that fails); calls are taken from
        `start` on."""
        settings = services.settings
        server = grpc.aio.server(
            options=[
                # A port another process holds is a failed start, never a port shared with it
                # (gRPC sets SO_REUSEPORT by default: two gateways would split the calls),
                # unless REUSE_PORT asks for just that.
                ("grpc.so_reuseport", int(settings.reuse_port)),
                # The same bound on a request's size as the HTTP face's MAX_BODY_BYTES;
                # past it gRPC itself answers RESOURCE_EXHAUSTED.
                ("grpc.max_receive_message_length", settings.max_body_bytes),
            ],
            # Calls served at once, as MAX_CONNECTIONS bounds the HTTP face's; past it
            # RESOURCE_EXHAUSTED.
            maximum_concurrent_rpcs=settings.max_connections,
        )
        # protoc's service module is untyped; the servicer's methods are typed.
        add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            InferenceServicer(services), server
        )
        address = listen_address(settings.grpc_host, settings.grpc_port)
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as exc:
            raise OSError(
                f"gRPC face: cannot listen on {address} (GRPC_HOST, GRPC_PORT): {exc}"
            ) from exc
        if bound == 0:
            raise OSError(f"gRPC face: cannot listen on {address} (GRPC_HOST, GRPC_PORT)")
        return cls(server, address)

    async def start(self) -> None:
        await self.server.start()
        log.info("gRPC face (Open Inference Protocol) on %s", self.address)

    def status(self) -> str:
        """/ready's check: "ok" while the server takes calls."""
        return "stopping" if self.stopping is not None else "ok"

    def drain(self) -> None:
        """The gateway stops: refuse new calls now; in-flight ones get STOP_GRACE_SECONDS."""
        if self.stopping is None:
            self.stopping = asyncio.create_task(
                self.server.stop(STOP_GRACE_SECONDS), name="grpc-stop"
            )

    async def close(self) -> None:
        self.drain()
        assert self.stopping is not None
        await self.stopping
