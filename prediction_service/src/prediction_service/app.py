"""The prediction API (FastAPI under uvicorn): `create_app` assembles the routers, the API
key guard, the error envelope, the OpenAPI document and the request middleware.

The hot path is kept lean: bodies are validated from bytes in one pass (inputs.py),
concurrent single records are predicted together in one pipeline call (batching.py),
responses are serialised with orjson (responses.py), and prediction log rows are handed to a
background writer (logwriter.py: no database I/O on a request).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from fastapi import FastAPI, Security
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from prediction_service import errors
from prediction_service.hotpath import HotPath
from prediction_service.manager import freeze_heap
from prediction_service.middleware import RequestContext
from prediction_service.openapi import build
from prediction_service.openapi import errors as documented
from prediction_service.routes import (
    admin,
    docs,
    feedback,
    health,
    metrics,
    model,
    models,
    predict,
    v2,
)
from prediction_service.service import Service

log = logging.getLogger("prediction_service")


class PredictionApp(FastAPI):
    """FastAPI with the single-record predict routes and V2 inference answered ahead of it
    (hotpath.py)."""

    hot: HotPath

    async def __call__(self, scope, receive, send) -> None:
        await self.hot(scope, receive, send)


def create_app(service: Service) -> FastAPI:
    settings = service.settings
    served = list(service.served.values())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.writer.start()
        service.shadow.start()
        for s in served:
            if s.manager.follows_candidates:
                # A shadow or canary already set in the registry is served from the start.
                try:
                    await s.manager.follow_candidate()
                except Exception as exc:
                    log.warning("candidate aliases not read", extra={"error": str(exc)[:300]})
        pollers = []
        if settings.poll_interval > 0:
            for s in served:
                if s.manager.spec.follows_alias:
                    pollers.append(asyncio.create_task(s.manager.poll(settings.poll_interval)))
        for s in served:
            s.manager.warm()
        freeze_heap()
        try:
            yield
        finally:
            for poller in pollers:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await run_in_threadpool(service.shadow.close)  # its rows go to the writer
            await run_in_threadpool(service.writer.close)

    if service.single is not None:
        schema = service.single.schema
        title = f"Prediction service: {schema.name}"
        what = (
            f"Predicts **{schema.label.name}** ({schema.label.description}) from one record "
            f"or a batch of records of dataset `{schema.name}`"
        )
    else:
        title = f"Prediction service: {', '.join(service.names)}"
        what = (
            "Serves the models "
            + ", ".join(
                f"`{s.name}` ({s.task}, predicts **{s.schema.label.name}**)" for s in served
            )
            + ": each at /v1/models/{name}/predict, /predict/batch, /feedback and "
            "/v1/models/{name} (its metadata); GET /v1/models lists them"
        )
    app = PredictionApp(
        title=title,
        description=(
            f"{what}. A classifier answers with the predicted class and every class's "
            "probability. Every response carries the request id and the model version that "
            "answered (also as the X-Request-ID and X-Model-Version headers). Send "
            "X-Request-ID yourself to make a retry idempotent."
        ),
        version="1",
        lifespan=lifespan,
        default_response_class=Response,
        docs_url=None,  # routes/docs.py serves the pages with assets of their own
        redoc_url=None,
    )
    app.state.service = service

    auth = service.auth
    guarded = {
        "dependencies": [Security(auth.dependency())],
        "responses": documented(401, 403),
    }
    guard = guarded if auth.required else {}
    per_model = [models.model_router(service, s) for s in served]
    # The single-model routes answer (and are documented) when one model is served; with
    # several they say which per-model routes to use.
    single = service.single is not None
    for router in (predict.router, model.router, feedback.router):
        app.include_router(router, include_in_schema=single, **guard)
    app.include_router(models.listing(), **guard)
    for router in per_model:
        app.include_router(router, **guard)
    # The Open Inference Protocol (V2) beside /v1: metadata and inference behind the same
    # key as /v1's, the health routes open (routes/v2.py says why). Its per-model routes
    # come right after /v1's: a request is matched route by route, at a cost each.
    inferences = [v2.Inference(service, s) for s in served]  # the hot path's too
    v2_models = [v2.model_routers(service, i) for i in inferences]
    for v2_router, _ in v2_models:
        app.include_router(v2_router, **guard)
    for _, v2_health in v2_models:
        app.include_router(v2_health)
    app.include_router(models.unknown(), **guard)
    v2_server = v2.server_router(service)
    v2_guarded, v2_open = v2.unknown()
    app.include_router(v2_server)
    app.include_router(v2_guarded, **guard)
    app.include_router(v2_open)
    app.include_router(health.router)
    app.include_router(
        admin.router,
        dependencies=[Security(auth.dependency(admin=True))],
        responses=documented(401, 403),
    )
    app.include_router(metrics.router)
    app.include_router(docs.router)
    errors.install(
        app, lambda: service.default_model.version if service.default_model is not None else None
    )

    summaries = {"/v1/predict/batch": f"Predict a batch (up to {settings.max_batch} records)"}

    def openapi() -> dict:
        if not app.openapi_schema:
            app.openapi_schema = build(app, service, summaries)
            app.openapi_schema["components"]["schemas"].update(v2.components(service))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # FastAPI includes routers lazily (app.routes holds the routers, not their routes).
    routers = [r.router for r in (predict, model, feedback, health, admin, metrics, docs)]
    routers += [models.listing(), *per_model, v2_server]
    routers += [r for pair in v2_models for r in pair]
    endpoints = {route.path for router in routers for route in router.routes}
    app.add_middleware(RequestContext, service=service, endpoints=endpoints)
    app.hot = HotPath(functools.partial(FastAPI.__call__, app), service, inferences)
    return app
