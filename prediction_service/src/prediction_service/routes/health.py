"""GET /v1/health/live and /v1/health/ready (the probes); never behind an API key.
Ready when every served model is loaded."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from prediction_service.deps import ServiceDep
from prediction_service.openapi import errors
from prediction_service.responses import respond

router = APIRouter(prefix="/v1/health", tags=["health"], default_response_class=Response)


@router.get("/live", summary="Liveness")
async def live(request: Request, service: ServiceDep) -> Response:
    return respond(
        request, {"status": "ok", "request_id": request.scope["request_id"]}, service.default_model
    )


@router.get("/ready", summary="Readiness: every served model is loaded", responses=errors(503))
async def ready(request: Request, service: ServiceDep) -> Response:
    ready = service.ready
    payload = {
        "status": "ready" if ready else "loading",
        "request_id": request.scope["request_id"],
        "models": {name: s.current.version for name, s in service.served.items()},
        "prediction_log": "up" if service.writer.db_ok else "spooling",
        "spool_rows": service.writer.spool_rows,
    }
    only = service.default_model
    if only is not None:
        payload["model_name"] = only.name
        payload["model_version"] = only.version
    return respond(request, payload, only, status=200 if ready else 503)
