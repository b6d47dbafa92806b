"""GET /v1/health/live and /v1/health/ready (the probes); never behind an API key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from prediction_service.deps import ModelDep, ServiceDep
from prediction_service.openapi import errors
from prediction_service.responses import respond

router = APIRouter(prefix="/v1/health", tags=["health"], default_response_class=Response)


@router.get("/live", summary="Liveness")
async def live(request: Request, model: ModelDep) -> Response:
    return respond(request, {"status": "ok", "request_id": request.scope["request_id"]}, model)


@router.get("/ready", summary="Readiness: a model is loaded", responses=errors(503))
async def ready(request: Request, service: ServiceDep, model: ModelDep) -> Response:
    payload = {
        "status": "ready" if model is not None else "loading",
        "request_id": request.scope["request_id"],
        "model_name": model.name,
        "model_version": model.version,
        "prediction_log": "up" if service.writer.db_ok else "spooling",
        "spool_rows": service.writer.spool_rows,
    }
    return respond(request, payload, model, status=200 if model is not None else 503)
