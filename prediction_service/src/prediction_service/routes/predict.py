"""POST /v1/predict and /v1/predict/batch (the single-model routes: they answer when exactly
one model is served), and the handlers every model's routes share (routes/models.py).

The hot path, so one dependency only (each costs a request about 9 us: FastAPI 0.156, 2
cores)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from prediction_service.deps import ServiceDep
from prediction_service.openapi import body, errors, returns
from prediction_service.responses import respond
from prediction_service.rollout import pick
from prediction_service.service import ServedModel, Service

router = APIRouter(prefix="/v1/predict", tags=["predict"], default_response_class=Response)


async def predict_one(request: Request, service: Service, served: ServedModel) -> Response:
    t0 = time.perf_counter()
    scope = request.scope
    scope["served"] = served
    record = await served.inputs.record(request)
    # The model this request runs on (the champion, or a canary by the routing key),
    # whatever swaps meanwhile.
    model, role, shadow = pick(served, scope)
    value = await served.batcher.submit(model, record)
    rid = scope["request_id"]
    service.log_row(served, rid, model, record, value, (time.perf_counter() - t0) * 1000.0, role)
    service.metrics.predictions.labels(model.name, model.version, "single", role).inc()
    response = respond(request, served.answer(rid, model, value), model, role=role)
    if shadow is not None:  # after the answer is made: the shadow never delays it
        service.shadow.submit(served, shadow, [rid], [record], "single")
    return response


async def predict_many(request: Request, service: Service, served: ServedModel) -> Response:
    t0 = time.perf_counter()
    scope = request.scope
    scope["served"] = served
    records = await served.inputs.batch(request)
    # A batch is routed whole by its key: its rows are never split between two models.
    model, role, shadow = pick(served, scope)
    values = await run_in_threadpool(served.predictor.predict, model, records)
    rid = scope["request_id"]
    ids = [f"{rid}-{i}" for i in range(len(records))]
    ms = (time.perf_counter() - t0) * 1000.0
    service.log_rows(served, rid, ids, model, records, values, ms, role)
    service.metrics.predictions.labels(model.name, model.version, "batch", role).inc(len(values))
    response = respond(request, served.answer_batch(rid, ids, model, values), model, role=role)
    if shadow is not None:
        service.shadow.submit(served, shadow, ids, records, "batch")
    return response


@router.post(
    "",
    summary="Predict one record (the only served model)",
    responses={200: returns("PredictResponse"), **errors(400, 404, 413, 422)},
    openapi_extra=body("Features"),
)
async def predict(request: Request, service: ServiceDep) -> Response:
    return await predict_one(request, service, service.only())


@router.post(
    "/batch",
    summary="Predict a batch of records (the only served model)",
    responses={200: returns("BatchPredictResponse"), **errors(400, 404, 413, 422)},
    openapi_extra=body("BatchRequest"),
)
async def predict_batch(request: Request, service: ServiceDep) -> Response:
    return await predict_many(request, service, service.only())
