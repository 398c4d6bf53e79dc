"""GET /model: the metadata of the model the workers serve."""

from __future__ import annotations

from fastapi import APIRouter

from contract.model import ModelMetadata
from gateway.errors import PROBLEM_JSON, ProblemError
from gateway.services import ServicesDep

router = APIRouter(tags=["model"])


@router.get(
    "/model",
    responses={
        503: {"description": "No worker has announced a model", "content": {PROBLEM_JSON: {}}}
    },
)
async def get_model(services: ServicesDep) -> ModelMetadata:
    metadata = await services.model.fetch() or services.model.metadata
    if metadata is None:
        raise ProblemError(503, "No model is known yet: no worker has announced one.")
    return metadata
