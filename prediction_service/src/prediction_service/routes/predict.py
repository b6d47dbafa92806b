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
from prediction_service.service import ServedModel, Service

router = APIRouter(prefix="/v1/predict", tags=["predict"], default_response_class=Response)


async def predict_one(request: Request, service: Service, served: ServedModel) -> Response:
    t0 = time.perf_counter()
    request.scope["served"] = served
    record = await served.inputs.record(request)
    model = served.manager.current  # the model this request runs on, whatever swaps meanwhile
    value = await served.batcher.submit(model, record)
    rid = request.scope["request_id"]
    service.log_row(served, rid, model, record, value, (time.perf_counter() - t0) * 1000.0)
    service.metrics.predictions.labels(model.name, model.version, "single").inc()
    return respond(request, served.answer(rid, model, value), model)


async def predict_many(request: Request, service: Service, served: ServedModel) -> Response:
    t0 = time.perf_counter()
    request.scope["served"] = served
    records = await served.inputs.batch(request)
    model = served.manager.current
    values = await run_in_threadpool(served.predictor.predict, model, records)
    rid = request.scope["request_id"]
    ids = [f"{rid}-{i}" for i in range(len(records))]
    service.log_rows(served, ids, model, records, values, (time.perf_counter() - t0) * 1000.0)
    service.metrics.predictions.labels(model.name, model.version, "batch").inc(len(values))
    return respond(request, served.answer_batch(rid, ids, model, values), model)


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
