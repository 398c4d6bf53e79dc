"""GET /model: the served model and every version answering; GET /models: the registry."""

from __future__ import annotations

from fastapi import APIRouter

from contract.rollout import RegistryView, ServedModel
from gateway.errors import PROBLEM_JSON, ProblemError
from gateway.services import ServicesDep

router = APIRouter(tags=["model"])


@router.get(
    "/model",
    responses={
        503: {"description": "No worker has announced a model", "content": {PROBLEM_JSON: {}}}
    },
)
async def get_model(services: ServicesDep) -> ServedModel:
    """The served version's metadata; during a rollout, the canary and every version that
    still answers (a worker process answers with the version it had until it has loaded the
    new one)."""
    served = await services.model.served_model()
    if served is None:
        raise ProblemError(503, "No model is known yet: no worker has announced one.")
    return served


@router.get(
    "/models",
    responses={
        503: {"description": "No worker has published the registry", "content": {PROBLEM_JSON: {}}}
    },
)
async def list_models(services: ServicesDep) -> RegistryView:
    """The registry's versions: which is served, which is the canary, each one's metadata."""
    registry = await services.model.registry()
    if registry is None:
        raise ProblemError(503, "No registry is known yet: no worker has published one.")
    return registry
