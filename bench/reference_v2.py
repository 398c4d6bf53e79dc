"""The in-process reference: the V2 server a team would otherwise run beside irisq.

A small Open Inference Protocol (KServe V2) REST server: one uvicorn process that evaluates
the same forest with scikit-learn's own `predict_proba` in the request process. Concurrent
requests are gathered into one call (adaptive batching, as Triton's dynamic batcher and
MLServer's adaptive batching do), computed in a thread so the event loop keeps accepting.
`make bench` measures irisq's two faces against it (bench/run.py, the `ref_*` scenarios).

    python -m bench.reference_v2 --model-dir model --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.bare import serve
from contract.http import FEATURES
from worker.model import MODEL_FILE, verify_checksum
from worker.registry import served_dir

FloatArray = npt.NDArray[np.float64]

MODEL_NAME = "iris"
INPUT_NAME = "input"
OUTPUTS = ("label", "probabilities", "class_index")
DTYPES: dict[str, type[np.floating[Any]]] = {"FP32": np.float32, "FP64": np.float64}
# As Triton's dynamic batcher: a batch waits at most this long for more requests, and takes
# whole requests up to this many rows (a larger request is a batch alone).
MAX_BATCH_ROWS = 4096
MAX_WAIT_SECONDS = 0.001
# Batches computed at once, each in a thread of its own (Triton's model instances).
INSTANCES = 1


class InferenceError(ValueError):
    """A request the server refuses: 400 with the protocol's `{"error": ...}` body."""


@dataclass(frozen=True)
class ReferenceModel:
    # The fitted scikit-learn classifier, as joblib loads it.
    classifier: Any
    version: str
    # The class names in the order of predict_proba's columns.
    classes: tuple[str, ...]


def load_reference_model(model_dir: Path) -> ReferenceModel:
    """The served version of a model directory (or registry), checksum verified."""
    directory = served_dir(model_dir)
    metadata = verify_checksum(directory)
    classifier = joblib.load(directory / MODEL_FILE)
    # irisq's models are trained on iris's class numbers; the metadata names them.
    classes = tuple(metadata.classes[int(c)] for c in classifier.classes_)
    return ReferenceModel(classifier, metadata.version, classes)


@dataclass
class _Pending:
    rows: npt.NDArray[np.floating[Any]]
    answer: asyncio.Future[FloatArray]


class AdaptiveBatcher:
    """`predict_proba` for concurrent requests: one call a batch, off the event loop."""

    def __init__(
        self,
        predict_proba: Callable[[npt.NDArray[np.floating[Any]]], FloatArray],
        max_batch_rows: int = MAX_BATCH_ROWS,
        max_wait_s: float = MAX_WAIT_SECONDS,
        instances: int = INSTANCES,
    ) -> None:
        self._predict_proba = predict_proba
        self.max_batch_rows = max_batch_rows
        self.max_wait_s = max_wait_s
        # predict_proba calls made: how well requests were gathered.
        self.calls = 0
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._filled: asyncio.Future[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._instances = asyncio.Semaphore(instances)
        self._computing: set[asyncio.Task[None]] = set()

    async def predict_proba(self, rows: npt.NDArray[np.floating[Any]]) -> FloatArray:
        answer: asyncio.Future[FloatArray] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(rows, answer))
        self._queued_rows += len(rows)
        filled = self._filled
        if self._queued_rows >= self.max_batch_rows and filled is not None and not filled.done():
            filled.set_result(None)
        if self._runner is None:
            self._runner = asyncio.create_task(self._run())
        return await answer

    async def _run(self) -> None:
        """Batches until the queue is empty; the next request starts another run.

        A batch is gathered once an instance is free: what arrives meanwhile waits for it.
        """
        try:
            while self._queue:
                await self._instances.acquire()
                if self._queued_rows < self.max_batch_rows and self.max_wait_s > 0:
                    self._filled = asyncio.get_running_loop().create_future()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.max_wait_s):
                            await self._filled
                    self._filled = None
                computing = asyncio.create_task(self._compute(self._take()))
                self._computing.add(computing)
                computing.add_done_callback(self._computed)
        finally:
            self._runner = None

    def _computed(self, task: asyncio.Task[None]) -> None:
        self._computing.discard(task)
        self._instances.release()

    def _take(self) -> list[_Pending]:
        batch = [self._queue.popleft()]
        rows = len(batch[0].rows)
        while self._queue and rows + len(self._queue[0].rows) <= self.max_batch_rows:
            rows += len(self._queue[0].rows)
            batch.append(self._queue.popleft())
        self._queued_rows -= rows
        return batch

    async def _compute(self, batch: list[_Pending]) -> None:
        # A request whose client went away is not computed.
        batch = [pending for pending in batch if not pending.answer.done()]
        if not batch:
            return
        rows = batch[0].rows if len(batch) == 1 else np.concatenate([p.rows for p in batch])
        self.calls += 1
        try:
            proba = await asyncio.to_thread(self._predict_proba, rows)
        except Exception as exc:
            for pending in batch:
                if not pending.answer.done():
                    pending.answer.set_exception(exc)
            return
        start = 0
        for pending in batch:
            end = start + len(pending.rows)
            if not pending.answer.done():
                pending.answer.set_result(proba[start:end])
            start = end


@dataclass(frozen=True)
class ParsedRequest:
    id: str | None
    rows: npt.NDArray[np.floating[Any]]
    outputs: tuple[str, ...]


def parse_request(body: bytes) -> ParsedRequest:
    """The one input tensor, [N, 4] FP32 or FP64 finite numbers, flat or nested; InferenceError."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InferenceError(f"the body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InferenceError("the body must be a JSON object")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise InferenceError(f"expected one input tensor, {INPUT_NAME!r}")
    tensor: dict[str, Any] = inputs[0]
    if tensor.get("name") != INPUT_NAME:
        raise InferenceError(f"unknown input {tensor.get('name')!r}; the input is {INPUT_NAME!r}")
    datatype = tensor.get("datatype")
    if datatype not in DTYPES:
        raise InferenceError(f"input datatype must be FP32 or FP64, not {datatype!r}")
    shape = tensor.get("shape")
    width = len(FEATURES)
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(type(d) is int for d in shape)
        or shape[0] < 1
        or shape[1] != width
    ):
        raise InferenceError(f"input shape must be [N, {width}] with N >= 1, not {shape!r}")
    data = tensor.get("data")
    if not isinstance(data, list):
        raise InferenceError("input data must be a list of numbers")
    try:
        values = np.asarray(data)
    except ValueError as exc:
        raise InferenceError("input data is nested unevenly") from exc
    if values.dtype.kind not in "iuf":
        raise InferenceError("input data must be numbers")
    if values.size != shape[0] * width or values.ndim not in (1, 2):
        raise InferenceError(f"input data has {values.size} values in {values.ndim} dimensions")
    with np.errstate(over="ignore"):
        rows = values.reshape(shape[0], width).astype(DTYPES[datatype], copy=False)
    if not np.isfinite(rows).all():
        raise InferenceError("input data must be finite numbers")
    outputs = OUTPUTS
    requested = document.get("outputs")
    if requested is not None:
        if not isinstance(requested, list) or not all(isinstance(o, dict) for o in requested):
            raise InferenceError("outputs must be a list of {name: ...}")
        outputs = tuple(o.get("name") for o in requested)
        unknown = [name for name in outputs if name not in OUTPUTS]
        if unknown:
            raise InferenceError(f"unknown output {unknown[0]!r}; the outputs are {OUTPUTS}")
    request_id = document.get("id")
    return ParsedRequest(request_id if isinstance(request_id, str) else None, rows, outputs)


def _error(status: int, message: str) -> Response:
    return Response(orjson.dumps({"error": message}), status, media_type="application/json")


def _json(document: dict[str, Any]) -> Response:
    return Response(
        orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )


def output_tensors(
    proba: FloatArray, classes: tuple[str, ...], names: tuple[str, ...]
) -> list[dict[str, Any]]:
    """The requested outputs of a request's probabilities, numpy arrays left to orjson."""
    index = proba.argmax(axis=1)
    n = len(proba)
    tensors: list[dict[str, Any]] = []
    for name in names:
        if name == "label":
            labels = [classes[i] for i in index.tolist()]
            tensors.append({"name": name, "datatype": "BYTES", "shape": [n], "data": labels})
        elif name == "probabilities":
            values = np.ascontiguousarray(proba, dtype=np.float64).ravel()
            shape = [n, proba.shape[1]]
            tensors.append({"name": name, "datatype": "FP64", "shape": shape, "data": values})
        else:
            values = index.astype(np.int64, copy=False)
            tensors.append({"name": name, "datatype": "INT64", "shape": [n], "data": values})
    return tensors


def create_reference_app(
    model: ReferenceModel,
    max_batch_rows: int = MAX_BATCH_ROWS,
    max_wait_s: float = MAX_WAIT_SECONDS,
    instances: int = INSTANCES,
) -> Starlette:
    """The V2 routes for the one model `iris`; `app.state.batcher` counts its calls."""
    batcher = AdaptiveBatcher(model.classifier.predict_proba, max_batch_rows, max_wait_s, instances)
    classes = model.classes
    metadata = {
        "name": MODEL_NAME,
        "versions": [model.version],
        "platform": "scikit-learn",
        "inputs": [{"name": INPUT_NAME, "datatype": "FP64", "shape": [-1, len(FEATURES)]}],
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(classes)]},
            {"name": "class_index", "datatype": "INT64", "shape": [-1]},
        ],
    }

    async def ready(request: Request) -> Response:
        return _json({"ready": True})

    async def model_ready(request: Request) -> Response:
        if request.path_params["model_name"] != MODEL_NAME:
            return _error(404, f"model {request.path_params['model_name']!r} not found")
        return _json({"name": MODEL_NAME, "ready": True})

    async def live(request: Request) -> Response:
        return _json({"live": True})

    async def model_metadata(request: Request) -> Response:
        if request.path_params["model_name"] != MODEL_NAME:
            return _error(404, f"model {request.path_params['model_name']!r} not found")
        return _json(metadata)

    async def infer(request: Request) -> Response:
        if request.path_params["model_name"] != MODEL_NAME:
            return _error(404, f"model {request.path_params['model_name']!r} not found")
        try:
            parsed = parse_request(await request.body())
        except InferenceError as exc:
            return _error(400, str(exc))
        proba = await batcher.predict_proba(parsed.rows)
        return _json(
            {
                "model_name": MODEL_NAME,
                "model_version": model.version,
                "id": parsed.id,
                "outputs": output_tensors(proba, classes, parsed.outputs),
            }
        )

    app = Starlette(
        routes=[
            Route("/v2/health/ready", ready),
            Route("/v2/health/live", live),
            Route("/v2/models/{model_name}/ready", model_ready),
            Route("/v2/models/{model_name}", model_metadata),
            Route("/v2/models/{model_name}/infer", infer, methods=["POST"]),
        ]
    )
    app.state.batcher = batcher
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-batch-rows", type=int, default=MAX_BATCH_ROWS)
    parser.add_argument("--max-wait-ms", type=float, default=MAX_WAIT_SECONDS * 1000)
    parser.add_argument("--instances", type=int, default=INSTANCES)
    args = parser.parse_args()
    model = load_reference_model(args.model_dir)
    app = create_reference_app(model, args.max_batch_rows, args.max_wait_ms / 1000, args.instances)
    serve(app, args.port)


if __name__ == "__main__":
    main()
