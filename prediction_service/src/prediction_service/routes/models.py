"""The per-model routes: GET /v1/models (every served model), and for each served model
GET /v1/models/{name}, POST /v1/models/{name}/predict, /predict/batch and /feedback.

Each model's routes are concrete paths generated at start-up (one operation per model in
the OpenAPI document, with that model's request and response components, named after it:
HousePriceFeatures, ChurnPredictResponse, ...). A name no model is served under reaches the
catch-all routes at the end, which answer 404 naming the served models."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from prediction_service.deps import ServiceDep
from prediction_service.openapi import body, errors, returns
from prediction_service.responses import respond
from prediction_service.routes.feedback import give_feedback
from prediction_service.routes.predict import predict_many, predict_one
from prediction_service.schemas import component_prefix
from prediction_service.service import ServedModel, Service

PREFIX = "/v1/models"


def listing() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["models"], default_response_class=Response)

    @router.get(
        "",
        summary="Every model this service serves: name, task, version, role",
        responses={200: returns("ModelList")},
    )
    async def list_models(request: Request, service: ServiceDep) -> Response:
        payload = {
            "request_id": request.scope["request_id"],
            "models": [s.summary() for s in service.served.values()],
        }
        return respond(request, payload, service.default_model)

    return router


def model_router(service: Service, served: ServedModel) -> APIRouter:
    """The routes of one served model, at concrete paths."""
    name = served.name
    p = component_prefix(name)
    router = APIRouter(
        prefix=f"{PREFIX}/{name}", tags=[f"model {name}"], default_response_class=Response
    )
    what = f"{served.task} model {name!r}"
    max_batch = service.settings.max_batch

    async def info(request: Request) -> Response:
        request.scope["served"] = served
        return respond(request, served.info(request.scope["request_id"]), served.current)

    async def predict(request: Request) -> Response:
        return await predict_one(request, service, served)

    async def predict_batch(request: Request) -> Response:
        return await predict_many(request, service, served)

    async def feedback(request: Request) -> Response:
        return await give_feedback(request, service, served)

    slug = name.replace("-", "_")
    router.add_api_route(
        "",
        info,
        methods=["GET"],
        name=f"model_info_{slug}",
        summary=f"The {what}: version, run, data version, metrics",
        responses={200: returns(f"{p}ModelInfo")},
    )
    router.add_api_route(
        "/predict",
        predict,
        methods=["POST"],
        name=f"predict_{slug}",
        summary=f"Predict one record with the {what}",
        responses={200: returns(f"{p}PredictResponse"), **errors(400, 413, 422)},
        openapi_extra=body(f"{p}Features"),
    )
    router.add_api_route(
        "/predict/batch",
        predict_batch,
        methods=["POST"],
        name=f"predict_batch_{slug}",
        summary=f"Predict a batch (up to {max_batch} records) with the {what}",
        responses={200: returns(f"{p}BatchPredictResponse"), **errors(400, 413, 422)},
        openapi_extra=body(f"{p}BatchRequest"),
    )
    router.add_api_route(
        "/feedback",
        feedback,
        methods=["POST"],
        name=f"feedback_{slug}",
        summary=f"Report the true {served.schema.label.name} of an earlier prediction of {name!r}",
        status_code=202,
        responses={202: returns(f"{p}FeedbackResponse"), **errors(400, 404, 413, 422, 503)},
        openapi_extra=body(f"{p}FeedbackRequest"),
    )
    return router


def unknown() -> APIRouter:
    """Catch-alls after the concrete routes: a model that is not served is a 404 naming
    the served ones."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False, default_response_class=Response)

    async def not_served(name: str, service: ServiceDep) -> Response:
        service.get(name)  # raises the 404
        raise AssertionError("unreachable")  # pragma: no cover

    router.add_api_route("/{name}", not_served, methods=["GET"])
    for path in ("/{name}/predict", "/{name}/predict/batch", "/{name}/feedback"):
        router.add_api_route(path, not_served, methods=["POST"])
    return router
