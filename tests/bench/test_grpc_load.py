"""bench.grpc_load: its ModelInfer requests and its figures, against a stand-in gRPC server."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

grpc = pytest.importorskip("grpc")
pb = pytest.importorskip("gateway.oip_grpc.open_inference_grpc_pb2")

from bench.grpc_load import LOW, OUTPUTS, SPAN, drive  # noqa: E402


async def drive_stand_in(
    rows: int, status: Any = None
) -> tuple[dict[str, int], list[npt.NDArray[np.float64]]]:
    """`drive` for a moment against a server that answers the three outputs, or `status`."""
    received: list[npt.NDArray[np.float64]] = []

    async def model_infer(request: Any, context: Any) -> Any:
        (tensor,) = request.inputs
        assert (tensor.name, tensor.datatype) == ("input", "FP64")
        assert [o.name for o in request.outputs] == list(OUTPUTS)
        received.append(np.frombuffer(request.raw_input_contents[0], "<f8").reshape(tensor.shape))
        if status is not None:
            await context.abort(status, "refused")
        outputs = [pb.ModelInferResponse.InferOutputTensor(name=name) for name in OUTPUTS]
        return pb.ModelInferResponse(model_name="iris", outputs=outputs)

    handler = grpc.method_handlers_generic_handler(
        "inference.GRPCInferenceService",
        {
            "ModelInfer": grpc.unary_unary_rpc_method_handler(
                model_infer,
                request_deserializer=pb.ModelInferRequest.FromString,
                response_serializer=pb.ModelInferResponse.SerializeToString,
            )
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        figures = await drive(f"127.0.0.1:{port}", rows, 2, 0.3)
    finally:
        await server.stop(None)
    return figures, received


def test_each_request_carries_rows_of_random_flowers_as_one_fp64_tensor() -> None:
    figures, received = asyncio.run(drive_stand_in(100))
    assert figures["requests"] == len(received) > 0
    assert (figures["errors"], figures["unexpected"]) == (0, 0)
    assert figures["items"] == 100 * figures["requests"]
    assert figures["p50_us"] <= figures["p99_us"]
    rows = np.concatenate(received)
    assert rows.shape[1] == 4
    assert ((rows >= LOW) & (rows <= LOW + SPAN)).all()
    assert np.array_equal(rows, np.round(rows, 4))
    # Random: no two requests alike.
    assert len({r.tobytes() for r in received}) == len(received)


def test_refused_calls_count_as_errors_and_no_items() -> None:
    figures, received = asyncio.run(drive_stand_in(1, grpc.StatusCode.INVALID_ARGUMENT))
    assert figures["errors"] == figures["requests"] == len(received) > 0
    assert figures["items"] == 0
