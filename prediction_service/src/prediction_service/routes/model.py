"""GET /v1/model: the served model (the single-model route)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from prediction_service.deps import ServiceDep
from prediction_service.openapi import errors, returns
from prediction_service.responses import respond

router = APIRouter(prefix="/v1/model", tags=["model"], default_response_class=Response)


@router.get(
    "",
    summary="The served model: name, version, run, data version, metrics, candidate",
    responses={200: returns("ModelInfo"), **errors(404)},
)
async def model_info(request: Request, service: ServiceDep) -> Response:
    served = service.only()
    return respond(request, served.info(request.scope["request_id"]), served.current)
