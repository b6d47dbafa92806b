"""GET /v1/model: the served model."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from prediction_service.deps import ModelDep, ServiceDep
from prediction_service.openapi import returns
from prediction_service.responses import respond

router = APIRouter(prefix="/v1/model", tags=["model"], default_response_class=Response)


@router.get(
    "",
    summary="The served model: name, version, run, data version, metrics",
    responses={200: returns("ModelInfo")},
)
async def model_info(request: Request, service: ServiceDep, model: ModelDep) -> Response:
    return respond(
        request,
        {
            "request_id": request.scope["request_id"],
            **model.metadata(),
            "features": service.feature_names,
            "label": service.schema.label.name,
        },
        model,
    )
