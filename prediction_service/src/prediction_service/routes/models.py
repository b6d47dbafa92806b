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
        summary="Every model this service serves: name, task, version, role, candidate",
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
    label = served.schema.label.name
    # path, handler, method, operation name, summary, status, response component, errors,
    # request body component
    routes = (
        ("", info, "GET", "model_info", f"The {what}: version, lineage, metrics, candidate",
         200, "ModelInfo", (), None),
        ("/predict", predict, "POST", "predict", f"Predict one record with the {what}",
         200, "PredictResponse", (400, 413, 422), "Features"),
        ("/predict/batch", predict_batch, "POST", "predict_batch",
         f"Predict a batch (up to {max_batch} records) with the {what}",
         200, "BatchPredictResponse", (400, 413, 422), "BatchRequest"),
        ("/feedback", feedback, "POST", "feedback",
         f"Report the true {label} of an earlier prediction of {name!r}",
         202, "FeedbackResponse", (400, 404, 413, 422, 503), "FeedbackRequest"),
    )  # fmt: skip
    for path, handler, method, op, summary, status, returned, failures, request in routes:
        router.add_api_route(
            path,
            handler,
            methods=[method],
            name=f"{op}_{slug}",
            summary=summary,
            status_code=status,
            responses={status: returns(f"{p}{returned}"), **errors(*failures)},
            openapi_extra=body(f"{p}{request}") if request else None,
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
