"""GET /jobs/{id}: the status of a job, and its items once done."""

from __future__ import annotations

from fastapi import APIRouter, Path
from starlette.responses import Response

from contract.http import JobView
from gateway.errors import PROBLEM_JSON, ProblemError
from gateway.services import ServicesDep

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get(
    "/{job_id}",
    response_model=JobView,
    responses={404: {"description": "Unknown or expired job", "content": {PROBLEM_JSON: {}}}},
)
async def get_job(
    # No length or pattern here: any id that is not ours is simply unknown (404), and the
    # job store never lets such an id reach Redis.
    services: ServicesDep,
    job_id: str = Path(description="The id from /predict"),
) -> Response:
    view = await services.jobs.get(job_id)
    if view is None:
        raise ProblemError(404, "No such job: unknown, or expired after JOB_TTL_SECONDS.")
    return Response(view.model_dump_json(), media_type="application/json")
