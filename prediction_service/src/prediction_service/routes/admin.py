"""POST /v1/admin/reload and /v1/admin/models/{name}/reload (always behind an API key:
`app.create_app` guards the router)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlops_core.errors import BadInput, MlopsError
from prediction_service.deps import ServiceDep
from prediction_service.errors import ApiError, item
from prediction_service.openapi import errors
from prediction_service.responses import respond
from prediction_service.service import ServedModel, Service

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


async def _reload(served: ServedModel, ref: str | None) -> dict:
    try:
        previous, current = await served.manager.reload(ref)
    except BadInput as exc:
        raise ApiError(422, exc.message) from None
    except MlopsError as exc:
        raise ApiError(503, exc.message) from None
    return {
        "previous_version": previous.version,
        "model_name": current.name,
        "model_version": current.version,
        "changed": previous is not current,
    }


def _target(service: Service, ref: str | None) -> ServedModel | None:
    """The served model a reload body names (a model name or a models:/ URI); None: all."""
    if ref is None:
        return service.single
    if ref in service.served:
        return service.served[ref]
    if ref.startswith("models:/"):
        from prediction_service.model import parse_ref

        try:
            name = parse_ref(ref, "").name
        except BadInput as exc:
            raise ApiError(422, exc.message) from None
        return service.get(str(name))
    if service.single is not None:
        return service.single
    raise ApiError(
        422,
        f"reference {ref!r}: with several models served ({', '.join(service.served)}), "
        "name one: models:/<name>/<version>, or POST /v1/admin/models/<name>/reload",
    )


@router.post(
    "/reload",
    summary="Reload the model, or every model (API key required)",
    description=(
        "Loads the configured model reference again (or the one in the optional body "
        '{"model": "models:/<name>/<version>"}) beside the current model, then switches '
        "atomically; requests in flight finish on the model they started with. With several "
        "models served, a body's models:/ URI (or model name) picks the model; without a "
        "body every model is reloaded."
    ),
    responses=errors(400, 404, 422, 503),
)
async def reload(request: Request, service: ServiceDep) -> Response:
    ref = await _model_ref(request)
    rid = request.scope["request_id"]
    target = _target(service, ref)
    if target is None:
        results = [await _reload(s, None) for s in service.served.values()]
        return respond(request, {"request_id": rid, "models": results}, None)
    if ref in service.served:
        ref = None
    out = await _reload(target, ref)
    return respond(request, {"request_id": rid, **out}, target.current)


@router.post(
    "/models/{name}/reload",
    summary="Reload one served model (API key required)",
    description=(
        "Like /v1/admin/reload, for the model `name`: its configured reference again, or the "
        'optional body {"model": "models:/<name>/<version>"}.'
    ),
    responses=errors(400, 404, 422, 503),
)
async def reload_model(name: str, request: Request, service: ServiceDep) -> Response:
    served = service.get(name)
    ref = await _model_ref(request)
    out = await _reload(served, ref)
    return respond(request, {"request_id": request.scope["request_id"], **out}, served.current)
