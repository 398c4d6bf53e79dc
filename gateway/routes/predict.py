"""POST /predict: cached items at once, the rest as one job, sync-wait or async."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from contract.answers import items_json, response_json
from contract.http import JobAccepted, PredictionRequest, PredictionResponse, request_rows
from contract.jobs import JobStatus
from gateway.errors import PROBLEM_JSON, ProblemError
from gateway.fenced_internals import RequestRoute
from gateway.prediction_path import answered_items, look_up_or_submit
from gateway.services import Services

router = APIRouter(tags=["predict"], route_class=RequestRoute)

PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
MAX_WAIT_SECONDS = 60.0


def wants_async(mode: str | None, prefer: str | None) -> bool:
    if mode is not None:
        return mode == "async"
    if prefer:
        tokens = {p.strip().split("=")[0].lower() for p in prefer.split(",") for p in p.split(";")}
        return "respond-async" in tokens
    return False


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _accepted(job_id: str, preference_applied: bool) -> Response:
    url = f"/jobs/{job_id}"
    headers = {"Location": url}
    if preference_applied:
        headers["Preference-Applied"] = "respond-async"
    body = JobAccepted(job_id=job_id, status=JobStatus.QUEUED, status_url=url)
    return _json(body.model_dump(mode="json"), 202, headers)


def _answer(model_version: str | None, job_id: str | None, items: bytes) -> Response:
    return Response(response_json(model_version, job_id, items), media_type="application/json")


# Documented here, parsed by hand below: this route is a RequestRoute
# (gateway/fenced_internals.py), which reads the request itself. FastAPI's declared body,
# query and header parameters take the cached path from 0.90 to 0.55 of the bare endpoint's
# throughput (docs/optimisations.md); the body's bytes are decoded and validated in one pass
# (contract/http.py request_rows), as FastAPI documents for custom body handling.
PREDICT_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "wait",
        "in": "query",
        "required": False,
        "description": "Seconds to wait for the job (default PREDICT_WAIT_SECONDS), "
        f"0 to {MAX_WAIT_SECONDS:g}",
        "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
    },
    {
        "name": "mode",
        "in": "query",
        "required": False,
        "description": "`async` answers 202 at once, like `Prefer: respond-async`",
        "schema": {"type": "string", "enum": ["sync", "async"]},
    },
    {
        "name": "prefer",
        "in": "header",
        "required": False,
        "description": "RFC 7240; `respond-async` answers 202 at once",
        "schema": {"type": "string"},
    },
]


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` inlined: it sits inside the OpenAPI document."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = _inline_refs(model.model_json_schema())
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def parse_body(request: Request) -> list[tuple[float, float, float, float]]:
    """The body's items as rows, validated in one pass; errors name the field, like
    FastAPI's own."""
    if not _is_json(request.headers.get("content-type")):
        raise ProblemError(
            415,
            "Unsupported media type: the body must be JSON",
            errors=[{"field": "body", "message": "Content-Type must be application/json"}],
        )
    try:
        return request_rows(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def predict_options(request: Request) -> tuple[float | None, str | None, str | None]:
    """`wait`, `mode` and the Prefer header, validated as the OpenAPI document says."""
    prefer = request.headers.get("prefer")
    if not request.scope["query_string"]:
        return None, None, prefer
    query = request.query_params
    errors = []
    wait: float | None = None
    if (raw_wait := query.get("wait")) is not None:
        try:
            wait = float(raw_wait)
        except ValueError:
            wait = math.nan
        if not 0 <= wait <= MAX_WAIT_SECONDS:  # also false for NaN
            message = f"Input should be a number from 0 to {MAX_WAIT_SECONDS:g}"
            errors.append({"field": "wait", "message": message})
    mode = query.get("mode")
    if mode is not None and mode not in ("sync", "async"):
        errors.append({"field": "mode", "message": "Input should be 'sync' or 'async'"})
    if errors:
        fields = ", ".join(e["field"] for e in errors)
        raise ProblemError(422, f"Invalid request: {fields}", errors=errors)
    return wait, mode, prefer


@router.post(
    "/predict",
    summary="Predict the species of one or more flowers",
    response_model=None,
    openapi_extra={
        "parameters": PREDICT_PARAMETERS,
        "requestBody": request_body(PredictionRequest),
    },
    responses={
        200: {"model": PredictionResponse, "description": "Every item answered"},
        202: {"model": JobAccepted, "description": "Job accepted; poll its status_url"},
        413: {"description": "Too many items or body too large", **PROBLEM},
        415: {"description": "The body is not JSON (Content-Type)", **PROBLEM},
        422: {"description": "Invalid input; `errors` names each bad field", **PROBLEM},
        500: {"description": "The job failed on the worker", **PROBLEM},
        503: {
            "description": "Redis unavailable, or open work fills it (a new job is needed)",
            **PROBLEM,
        },
    },
)
async def predict(request: Request) -> Response:
    services: Services = request.app.state.services
    settings, metrics = services.settings, services.metrics
    values: Sequence[Sequence[float]] = await parse_body(request)
    wait, mode, prefer = predict_options(request)
    if len(values) > settings.max_items:
        raise ProblemError(
            413,
            f"Too many items: {len(values)} > MAX_ITEMS ({settings.max_items}).",
            errors=[{"field": "items", "message": f"at most {settings.max_items} items"}],
        )
    is_async = wants_async(mode, prefer)
    submitted = await look_up_or_submit(services, values, is_async=is_async)
    job_id, job = submitted.job_id, submitted.job
    if job_id is None or job is None:
        return _answer(submitted.version, None, items_json(submitted.cached, b"[]"))
    if is_async:
        return _accepted(job_id, preference_applied=mode is None)

    # Wait, then answer: the job's outcome, or 202 with its id when the wait ends without one.
    deadline = settings.predict_wait_seconds if wait is None else wait
    outcome = await services.listener.wait(job_id, job, deadline, request.receive)
    if outcome is None:
        return _accepted(job_id, preference_applied=False)
    if outcome["status"] == JobStatus.FAILED:
        metrics.jobs_failed.inc()
        raise ProblemError(500, outcome["error"], extra={"job_id": job_id})
    return _answer(outcome["model_version"], job_id, answered_items(submitted, outcome))
