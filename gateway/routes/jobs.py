"""GET /jobs/{id}: the status of a job, and its items once done; /events: its progress, pushed."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Header, Path
from starlette.responses import Response

from contract.http import JobView
from contract.jobs import JobStatus
from gateway.errors import PROBLEM_JSON, ProblemError
from gateway.job_events import EVENT_STREAM, RETRY_MS, TooManyStreams
from gateway.services import Services, ServicesDep

router = APIRouter(prefix="/jobs", tags=["jobs"])

PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
NO_SUCH_JOB = (
    "No such job: unknown, answered inside its own sync request (its record is not kept), or "
    "expired JOB_TTL_SECONDS after it finished."
)
TRIMMED_JOB = (
    "This job's record is gone: it finished, and was among the oldest records trimmed when "
    "Redis' memory ran short (RECORDS_MEMORY_SHARE). Its result can no longer be read; "
    "send the request again."
)
# Streams end within a job's life: a refused client may try again soon.
STREAMS_RETRY_AFTER = "5"
# No length or pattern on the id: any id that is not ours is simply unknown (404), and the
# job store never lets such an id reach Redis.
JobId = Annotated[str, Path(description="The id from /predict")]


@router.get(
    "/{job_id}",
    response_model=JobView,
    responses={
        404: {"description": "Unknown or expired job", **PROBLEM},
        410: {
            "description": "The finished job's record was trimmed under memory pressure",
            **PROBLEM,
        },
    },
)
async def get_job(services: ServicesDep, job_id: JobId) -> Response:
    view = await services.jobs.get(job_id)
    if view is None:
        await _missing(services, job_id)
    return Response(view.model_dump_json(), media_type="application/json")


async def _missing(services: Services, job_id: str) -> NoReturn:
    """A job without a record: 410 when it was trimmed, else 404."""
    if await services.jobs.was_trimmed(job_id):
        raise ProblemError(410, TRIMMED_JOB)
    raise ProblemError(404, NO_SUCH_JOB)


# One event of the stream, as FastAPI documents its own event streams (`itemSchema`): its data
# is the JobView that GET /jobs/{job_id} answers.
JOB_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data", "id"],
    "properties": {
        "event": {"type": "string", "enum": [status.value for status in JobStatus]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/JobView"},
        },
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}


@router.get(
    "/{job_id}/events",
    # The route answers a StreamingResponse of its own; the plain Response class (no media type)
    # keeps FastAPI from adding a schema for the whole body beside the events' itemSchema.
    response_class=Response,
    responses={
        200: {
            "description": (
                "Server-sent events named `queued`, `running`, `done` or `failed`, each with "
                "the job's JobView (as `GET /jobs/{job_id}` answers) as its data, one per state: "
                "the states the job passed through and its current one at once (only the "
                "current one after a Last-Event-ID), then each change; the stream ends after "
                "`done` or `failed`. "
                f"`retry: {RETRY_MS}` comes first, and a `: keep-alive` comment while idle."
            ),
            "content": {EVENT_STREAM: {"itemSchema": JOB_EVENT_SCHEMA}},
        },
        404: {"description": "Unknown or expired job", **PROBLEM},
        410: {
            "description": "The finished job's record was trimmed under memory pressure",
            **PROBLEM,
        },
        503: {"description": "MAX_EVENT_STREAMS streams are open, or Redis unavailable", **PROBLEM},
    },
)
async def job_events(
    services: ServicesDep,
    job_id: JobId,
    last_event_id: Annotated[
        str | None,
        Header(description="Sent by a reconnecting EventSource: the ids go on after it"),
    ] = None,
) -> Response:
    """The job's progress as server-sent events (`new EventSource(url)`), instead of polling."""
    try:
        stream = await services.events.stream(job_id, last_event_id)
    except TooManyStreams:
        raise ProblemError(
            503,
            f"Too many event streams are open ({services.events.limit}); retry shortly, or "
            "poll GET /jobs/{job_id}.",
            headers={"Retry-After": STREAMS_RETRY_AFTER},
        ) from None
    if stream is None:
        await _missing(services, job_id)
    return stream.response()
