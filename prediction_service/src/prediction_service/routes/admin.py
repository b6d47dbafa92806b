"""POST /v1/admin/reload (always behind an API key: `app.create_app` guards the router)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlops_core.errors import BadInput, MlopsError
from prediction_service.deps import ServiceDep
from prediction_service.errors import ApiError, item
from prediction_service.openapi import errors
from prediction_service.responses import respond

router = APIRouter(prefix="/v1/admin", tags=["admin"], default_response_class=Response)


async def _model_ref(request: Request) -> str | None:
    """The optional body {"model": "<reference>"}."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON body: {exc}") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("model", ""), str):
        raise ApiError(
            422,
            "invalid input: field 'model': expected a model reference string",
            [item("model", ["body", "model"], "string_type", "Input should be a valid string")],
        )
    return obj.get("model") or None


@router.post(
    "/reload",
    summary="Reload the model (API key required)",
    description=(
        "Loads the configured model reference again (or the one in the optional body "
        '{"model": "models:/<name>/<version>"}) beside the current model, then switches '
        "atomically; requests in flight finish on the model they started with."
    ),
    responses=errors(400, 422, 503),
)
async def reload(request: Request, service: ServiceDep) -> Response:
    ref = await _model_ref(request)
    try:
        previous, current = await service.manager.reload(ref)
    except BadInput as exc:
        raise ApiError(422, exc.message) from None
    except MlopsError as exc:
        raise ApiError(503, exc.message) from None
    return respond(
        request,
        {
            "request_id": request.scope["request_id"],
            "previous_version": previous.version,
            "model_name": current.name,
            "model_version": current.version,
            "changed": previous is not current,
        },
        current,
    )
