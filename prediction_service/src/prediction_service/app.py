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

from fastapi import FastAPI, Security
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from prediction_service import errors
from prediction_service.manager import freeze_heap
from prediction_service.middleware import RequestContext
from prediction_service.openapi import build
from prediction_service.openapi import errors as documented
from prediction_service.routes import admin, docs, feedback, health, metrics, model, predict
from prediction_service.service import Service


def create_app(service: Service) -> FastAPI:
    settings = service.settings
    manager = service.manager

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        service.writer.start()
        poller = None
        if settings.poll_interval > 0 and manager.spec.follows_alias:
            poller = asyncio.create_task(manager.poll(settings.poll_interval))
        manager.warm()
        freeze_heap()
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await run_in_threadpool(service.writer.close)

    schema = service.schema
    app = FastAPI(
        title=f"Prediction service: {schema.name}",
        description=(
            f"Predicts **{schema.label.name}** ({schema.label.description}) from one record "
            f"or a batch of records of dataset `{schema.name}`. Every response carries the "
            "request id and the model version that answered (also as the X-Request-ID and "
            "X-Model-Version headers). Send X-Request-ID yourself to make a retry idempotent."
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
    for router in (predict.router, model.router, feedback.router):
        app.include_router(router, **(guarded if auth.required else {}))
    app.include_router(health.router)
    app.include_router(
        admin.router,
        dependencies=[Security(auth.dependency(admin=True))],
        responses=documented(401, 403),
    )
    app.include_router(metrics.router)
    app.include_router(docs.router)
    errors.install(app, lambda: manager.current.version)

    summaries = {"/v1/predict/batch": f"Predict a batch (up to {settings.max_batch} records)"}

    def openapi() -> dict:
        if not app.openapi_schema:
            app.openapi_schema = build(app, service.models, summaries)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    # FastAPI includes routers lazily (app.routes holds the routers, not their routes).
    routers = (predict, model, feedback, health, admin, metrics, docs)
    endpoints = {route.path for module in routers for route in module.router.routes}
    app.add_middleware(RequestContext, service=service, endpoints=endpoints)
    return app
