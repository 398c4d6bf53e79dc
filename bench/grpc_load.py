"""ModelInfer load on the Open Inference Protocol's gRPC face, with wrk's figures.

wrk speaks HTTP/1.1 only. This drives `GRPCInferenceService.ModelInfer` with N concurrent
callers over one channel (HTTP/2 streams), each request ROWS random rows as one FP64 tensor in
`raw_input_contents` (as tritonclient sends them) asking for the three outputs, and prints the
line of figures wrk's scripts print (bench/wrk/common.lua): bench.scenarios reads both alike. It
runs as a process of its own, so its CPU is not the bench's.

    python -m bench.grpc_load --target 127.0.0.1:8001 --rows 100 --concurrency 64 --seconds 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import grpc
import numpy as np

from gateway.oip_grpc import open_inference_grpc_pb2 as pb

MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"
OUTPUTS = ("label", "probabilities", "class_index")
# The flowers of bench/wrk/common.lua: 4 decimals in the same ranges, so each row is a miss.
LOW = np.array([4.0, 2.0, 1.0, 0.1])
SPAN = np.array([4.0, 2.5, 6.0, 2.4])


def infer_request(rows: int, rng: np.random.Generator) -> pb.ModelInferRequest:
    values = np.round(LOW + rng.random((rows, 4)) * SPAN, 4)
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP64", shape=[rows, 4])
    return pb.ModelInferRequest(
        model_name="iris",
        inputs=[tensor],
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name=name) for name in OUTPUTS],
        raw_input_contents=[values.astype("<f8").tobytes()],
    )


async def drive(target: str, rows: int, concurrency: int, seconds: float) -> dict[str, int]:
    """`concurrency` callers for `seconds`; the figures wrk's scripts report."""
    latencies: list[float] = []
    counts = {"errors": 0, "unexpected": 0}
    async with grpc.aio.insecure_channel(target) as channel:
        infer = channel.unary_unary(
            MODEL_INFER,
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        await channel.channel_ready()
        start = time.monotonic()
        deadline = start + seconds

        async def caller() -> None:
            rng = np.random.default_rng()
            while time.monotonic() < deadline:
                request = infer_request(rows, rng)
                began = time.perf_counter()
                try:
                    response: Any = await infer(request, timeout=10)
                except grpc.aio.AioRpcError:
                    counts["errors"] += 1
                    continue
                latencies.append(time.perf_counter() - began)
                if [output.name for output in response.outputs] != list(OUTPUTS):
                    counts["unexpected"] += 1

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        duration = time.monotonic() - start
    answered = len(latencies) - counts["unexpected"]
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (0.0, 0.0)
    return {
        "requests": len(latencies) + counts["errors"],
        "duration_us": int(duration * 1e6),
        "items": answered * rows,
        "jobs": 0,
        "p50_us": int(p50 * 1e6),
        "p99_us": int(p99 * 1e6),
        **counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True, help="host:port of the gRPC face")
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    figures = asyncio.run(drive(args.target, args.rows, args.concurrency, args.seconds))
    print("IRISQ_BENCH " + json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
