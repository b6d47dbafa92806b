"""The prediction API (FastAPI under uvicorn).

The hot path is kept lean: bodies are parsed with orjson and validated by the schema's
pydantic-core validator directly, concurrent single-record requests are predicted together
in one call of the pipeline (micro-batching on the event loop, no added wait), responses
are serialised with orjson, and prediction log rows are handed to a background writer
(no database I/O on a request).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlops_core.errors import BadInput, MlopsError
from mlops_core.predlog import utcnow
from mlops_core.schema import DatasetSchema, normalise_category
from prediction_service.logwriter import PredictionLogWriter
from prediction_service.metrics import Metrics
from prediction_service.model import LoadedModel, ModelSpec, Predictor, load_model, resolve_version
from prediction_service.schemas import ApiModels, build_models
from prediction_service.settings import ServeSettings

log = logging.getLogger("prediction_service.api")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,48}$")
JSON = "application/json"


def read_api_keys(settings: ServeSettings) -> list[str]:
    """API keys from MLOPS_SERVE_API_KEYS and/or a mounted secret file (one a line)."""
    keys: list[str] = []
    if settings.api_keys is not None:
        keys += [k.strip() for k in settings.api_keys.get_secret_value().split(",")]
    if settings.api_key_file is not None:
        try:
            text = Path(settings.api_key_file).read_text()
        except OSError as exc:
            raise BadInput(
                f"API key file {settings.api_key_file}: cannot be read ({exc.strerror})"
            ) from exc
        keys += [line.strip() for line in text.splitlines()]
    return [k for k in keys if k and not k.startswith("#")]


def freeze_heap(collect: bool = True) -> None:
    """Move what start-up (or a model load) allocated out of the garbage collector's sight.

    The loaded libraries and the model are a million long-lived objects; without this, each
    full collection walked them all: 19 pauses of up to 300 ms in 12 s of batch traffic.
    After a swap there is no collection first (a full one pauses the event loop for about
    150 ms): the old model is freed by reference counting when its last request ends.
    """
    if collect:
        gc.collect()
    gc.freeze()


class RecentIds:
    """Request ids predicted lately (bounded), so feedback needs no database read."""

    def __init__(self, size: int = 200_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, rid: str) -> None:
        self._ids[rid] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)

    def extend(self, rids: list[str]) -> None:
        ids = self._ids
        for rid in rids:
            ids[rid] = None
        while len(ids) > self.size:
            ids.popitem(last=False)

    def __contains__(self, rid: str) -> bool:
        return rid in self._ids


class MicroBatcher:
    """Predicts single records that arrive together in one pipeline call.

    A request appends its record and, if no flush is pending, schedules one with
    call_soon: every request parsed in the same event-loop turn joins the batch, and a
    lone request waits for nothing. Each item carries the model it started with, so a
    swap never changes the model of a request in flight.
    """

    def __init__(self, predictor: Predictor, max_size: int = 256) -> None:
        self.predictor = predictor
        self.max_size = max_size
        self._pending: list[tuple[LoadedModel, dict, asyncio.Future]] = []
        self._scheduled = False

    def submit(self, model: LoadedModel, record: dict) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append((model, record, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._scheduled = False
        items, self._pending = self._pending, []
        by_model: dict[int, list[tuple[LoadedModel, dict, asyncio.Future]]] = {}
        for item in items:
            by_model.setdefault(id(item[0]), []).append(item)
        for group in by_model.values():
            for start in range(0, len(group), self.max_size):
                chunk = group[start : start + self.max_size]
                try:
                    values = self.predictor.predict(chunk[0][0], [r for _, r, _ in chunk])
                except Exception as exc:
                    for _, _, fut in chunk:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, _, fut), value in zip(chunk, values, strict=True):
                    if not fut.done():
                        fut.set_result(value)


class Service:
    """State of one running service: the model, the log writer, metrics, keys."""

    def __init__(
        self,
        *,
        settings: ServeSettings,
        schema: DatasetSchema,
        model: LoadedModel,
        spec: ModelSpec,
        tracking_uri: str,
        writer: PredictionLogWriter,
        api_keys: list[str],
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.model = model
        self.spec = spec
        self.tracking_uri = tracking_uri
        self.writer = writer
        self.api_keys = [k.encode() for k in api_keys]
        self.models: ApiModels = build_models(schema, settings.max_batch)
        self.predictor = Predictor(schema)
        self.predictor.prepare(model)
        self.batcher = MicroBatcher(self.predictor)
        self.metrics = Metrics()
        self.metrics.bind_writer(writer)
        self.metrics.set_model(model)
        self.recent = RecentIds()
        self.reload_lock = asyncio.Lock()
        self.category_values = [
            (c.name, frozenset(c.categories or ())) for c in schema.features if c.categories
        ]
        self.feature_names = list(schema.feature_names)
        self._validate_one = self.models.features.__pydantic_validator__.validate_python
        self._validate_many = self.models.features_list.validate_python
        self._record_json = self.models.record_json.validate_json
        self._batch_json = self.models.batch_json.validate_json
        self.key_header = settings.api_key_header.lower().encode()
        self.max_body = max(1_000_000, settings.max_batch * 4096)

    # -- helpers ---------------------------------------------------------------------------
    def meta(self, request: Request) -> tuple[str, LoadedModel]:
        return request.scope["request_id"], self.model

    def respond(
        self, request: Request, payload: dict[str, Any], status: int = 200, model=None
    ) -> Response:
        model = model or self.model
        request.scope["model_version"] = model.version
        return Response(
            orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
            status_code=status,
            media_type=JSON,
        )

    def error(
        self,
        request: Request,
        status: int,
        message: str,
        detail: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        payload = {
            "error": message,
            "detail": detail or [],
            "request_id": request.scope.get("request_id", ""),
            "model_version": self.model.version,
        }
        request.scope["model_version"] = self.model.version
        return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)

    def authorised(self, request: Request, admin: bool = False) -> Response | None:
        if not self.api_keys:
            if admin:
                return self.error(
                    request,
                    403,
                    "admin endpoints need an API key; none is configured "
                    "(set MLOPS_SERVE_API_KEYS or MLOPS_SERVE_API_KEY_FILE)",
                )
            return None
        if not admin and not self.settings.require_key:
            return None
        given = None
        for name, value in request.scope["headers"]:
            if name == self.key_header:
                given = value
                break
        if given is None:
            return self.error(
                request,
                401,
                f"missing API key (header {self.settings.api_key_header})",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        if not any(hmac.compare_digest(given, k) for k in self.api_keys):
            return self.error(request, 403, "invalid API key")
        return None

    async def read_json(self, request: Request) -> Any | Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return self.error(
                request, 413, f"request body of {length} bytes is larger than {self.max_body}"
            )
        body = await request.body()
        if len(body) > self.max_body:
            return self.error(
                request, 413, f"request body of {len(body)} bytes is larger than {self.max_body}"
            )
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return self.error(
                request,
                400,
                f"malformed JSON body: {exc}",
                [{"field": None, "loc": ["body"], "rule": "json_invalid", "msg": str(exc)}],
            )

    def normalise(self, record: Any) -> None:
        if isinstance(record, dict):
            for name, allowed in self.category_values:
                value = record.get(name)
                if isinstance(value, str) and value not in allowed:
                    record[name] = normalise_category(value)

    def validation_error(self, request: Request, exc: ValidationError, prefix: list) -> Response:
        detail = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = [*prefix, *err["loc"]]
            field = next(
                (p for p in reversed(err["loc"]) if isinstance(p, str)),
                None,
            )
            detail.append({"field": field, "loc": loc, "rule": err["type"], "msg": err["msg"]})
        first = detail[0] if detail else {"field": None, "msg": "invalid"}
        where = f"field {first['field']!r}: " if first["field"] else ""
        return self.error(request, 422, f"invalid input: {where}{first['msg']}", detail)

    def log_row(self, rid: str, model: LoadedModel, features: dict, value: float, ms: float):
        self.recent.add(rid)
        self.writer.log_prediction(
            {
                "request_id": rid,
                "created_at": utcnow(),
                "model_name": model.name,
                "model_version": model.version,
                "features": features,
                "prediction": value,
                "latency_ms": ms,
            }
        )

    # -- endpoints -------------------------------------------------------------------------
    async def body_fast(self, request: Request, validate: Callable[[bytes], Any]) -> Any:
        """The body validated in one pass, or None: then the caller takes the detailed path
        (normalised spellings, errors naming the field)."""
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > self.max_body:
            return None
        try:
            return validate(await request.body())
        except ValidationError:
            return None

    async def predict(self, request: Request) -> Response:
        t0 = time.perf_counter()
        if denied := self.authorised(request):
            return denied
        record = await self.body_fast(request, self._record_json)
        if record is None:
            record = await self._record_slow(request)
            if isinstance(record, Response):
                return record
        model = self.model  # the model this request runs on, whatever swaps meanwhile
        value = await self.batcher.submit(model, record)
        rid = request.scope["request_id"]
        self.log_row(rid, model, record, value, (time.perf_counter() - t0) * 1000.0)
        self.metrics.predictions.labels(model.name, model.version, "single").inc()
        return self.respond(
            request,
            {
                "request_id": rid,
                "prediction": value,
                "model_name": model.name,
                "model_version": model.version,
            },
            model=model,
        )

    async def _record_slow(self, request: Request) -> dict | Response:
        obj = await self.read_json(request)
        if isinstance(obj, Response):
            return obj
        if not isinstance(obj, dict):
            return self.error(
                request,
                422,
                "invalid input: the body must be a JSON object of feature values",
                [{"field": None, "loc": ["body"], "rule": "dict_type", "msg": "not an object"}],
            )
        self.normalise(obj)
        try:
            return self._validate_one(obj).__dict__
        except ValidationError as exc:
            return self.validation_error(request, exc, ["body"])

    async def predict_batch(self, request: Request) -> Response:
        t0 = time.perf_counter()
        if denied := self.authorised(request):
            return denied
        fast = await self.body_fast(request, self._batch_json)
        if fast is not None:
            validated = fast["records"]
        else:
            validated = await self._batch_slow(request)
            if isinstance(validated, Response):
                return validated
        model = self.model
        values = await run_in_threadpool(self.predictor.predict, model, validated)
        rid = request.scope["request_id"]
        ids = [f"{rid}-{i}" for i in range(len(validated))]
        ms = (time.perf_counter() - t0) * 1000.0
        now, name, version = utcnow(), model.name, model.version
        self.recent.extend(ids)
        self.writer.log_predictions(
            [
                {
                    "request_id": row_id,
                    "created_at": now,
                    "model_name": name,
                    "model_version": version,
                    "features": features,
                    "prediction": value,
                    "latency_ms": ms,
                }
                for row_id, features, value in zip(ids, validated, values, strict=True)
            ]
        )
        self.metrics.predictions.labels(model.name, model.version, "batch").inc(len(values))
        return self.respond(
            request,
            {
                "request_id": rid,
                "request_ids": ids,
                "predictions": values,
                "model_name": model.name,
                "model_version": model.version,
            },
            model=model,
        )

    async def _batch_slow(self, request: Request) -> list[dict] | Response:
        obj = await self.read_json(request)
        if isinstance(obj, Response):
            return obj
        records = obj.get("records") if isinstance(obj, dict) else None
        if not isinstance(records, list):
            return self.error(
                request,
                422,
                "invalid input: field 'records': expected a list of records",
                [
                    {
                        "field": "records",
                        "loc": ["body", "records"],
                        "rule": "list_type",
                        "msg": "Input should be a valid list",
                    }
                ],
            )
        extra = sorted(set(obj) - {"records"})
        if extra:
            return self.error(
                request,
                422,
                f"invalid input: field {extra[0]!r}: extra inputs are not permitted",
                [
                    {
                        "field": e,
                        "loc": ["body", e],
                        "rule": "extra_forbidden",
                        "msg": "Extra inputs are not permitted",
                    }
                    for e in extra
                ],
            )
        if len(records) > self.settings.max_batch:
            return self.error(
                request,
                413,
                f"batch of {len(records)} records is larger than the maximum "
                f"{self.settings.max_batch} (MLOPS_SERVE_MAX_BATCH)",
            )
        if not records:
            return self.error(
                request,
                422,
                "invalid input: field 'records': at least one record is needed",
                [
                    {
                        "field": "records",
                        "loc": ["body", "records"],
                        "rule": "too_short",
                        "msg": "List should have at least 1 item",
                    }
                ],
            )
        for r in records:
            self.normalise(r)
        try:
            return [m.__dict__ for m in self._validate_many(records)]
        except ValidationError as exc:
            return self.validation_error(request, exc, ["body", "records"])

    async def model_info(self, request: Request) -> Response:
        if denied := self.authorised(request):
            return denied
        model = self.model
        return self.respond(
            request,
            {
                "request_id": request.scope["request_id"],
                **model.metadata(),
                "features": self.feature_names,
                "label": self.schema.label.name,
            },
            model=model,
        )

    async def feedback(self, request: Request) -> Response:
        if denied := self.authorised(request):
            return denied
        obj = await self.read_json(request)
        if isinstance(obj, Response):
            return obj
        try:
            fb = self.models.feedback_request.model_validate(obj)
        except ValidationError as exc:
            return self.validation_error(request, exc, ["body"])
        if fb.request_id not in self.recent:
            try:
                known = await run_in_threadpool(self._known_in_log, fb.request_id)
            except Exception:
                return self.error(
                    request,
                    503,
                    "the prediction log cannot be read right now; retry later",
                    headers={"Retry-After": "5"},
                )
            if not known:
                return self.error(
                    request,
                    404,
                    f"no prediction with request id {fb.request_id!r}",
                    [
                        {
                            "field": "request_id",
                            "loc": ["body", "request_id"],
                            "rule": "not_found",
                            "msg": "unknown request id",
                        }
                    ],
                )
        self.writer.log_feedback(
            {"request_id": fb.request_id, "label": fb.label, "created_at": utcnow()}
        )
        model = self.model
        return self.respond(
            request,
            {
                "request_id": fb.request_id,
                "accepted": True,
                "model_name": model.name,
                "model_version": model.version,
            },
            status=202,
        )

    def _known_in_log(self, rid: str) -> bool:
        import sqlalchemy as sa

        from mlops_core.predlog import predictions

        with self.writer.engine.connect() as conn:
            found = conn.execute(
                sa.select(predictions.c.request_id).where(predictions.c.request_id == rid)
            ).first()
        return found is not None

    async def live(self, request: Request) -> Response:
        return self.respond(request, {"status": "ok", "request_id": request.scope["request_id"]})

    async def ready(self, request: Request) -> Response:
        model = self.model
        payload = {
            "status": "ready" if model is not None else "loading",
            "request_id": request.scope["request_id"],
            "model_name": model.name,
            "model_version": model.version,
            "prediction_log": "up" if self.writer.db_ok else "spooling",
            "spool_rows": self.writer.spool_rows,
        }
        return self.respond(request, payload, status=200 if model is not None else 503)

    async def reload(self, request: Request) -> Response:
        if denied := self.authorised(request, admin=True):
            return denied
        spec = self.spec
        body = await request.body()
        if body.strip():
            try:
                obj = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return self.error(request, 400, f"malformed JSON body: {exc}")
            if not isinstance(obj, dict) or not isinstance(obj.get("model", ""), str):
                return self.error(
                    request,
                    422,
                    "invalid input: field 'model': expected a model reference string",
                    [
                        {
                            "field": "model",
                            "loc": ["body", "model"],
                            "rule": "string_type",
                            "msg": "Input should be a valid string",
                        }
                    ],
                )
            if obj.get("model"):
                from prediction_service.model import parse_ref

                try:
                    spec = parse_ref(obj["model"], self.model.name)
                except BadInput as exc:
                    return self.error(request, 422, exc.message)
        try:
            previous, current = await self.swap(spec, force=True)
        except BadInput as exc:
            return self.error(request, 422, exc.message)
        except MlopsError as exc:
            return self.error(request, 503, exc.message)
        return self.respond(
            request,
            {
                "request_id": request.scope["request_id"],
                "previous_version": previous.version,
                "model_name": current.name,
                "model_version": current.version,
                "changed": previous is not current,
            },
            model=current,
        )

    async def swap(self, spec: ModelSpec, force: bool = False) -> tuple[LoadedModel, LoadedModel]:
        """Load the model `spec` names beside the current one, then switch atomically."""
        async with self.reload_lock:
            previous = self.model
            if not force and spec.path is None:
                _, version, _ = await run_in_threadpool(resolve_version, spec, self.tracking_uri)
                if version == previous.version and spec.name == previous.name:
                    return previous, previous
            try:
                new = await run_in_threadpool(
                    load_model, spec, self.tracking_uri, registry_timeout=0.0
                )
            except MlopsError:
                self.metrics.model_loads.labels("failed").inc()
                raise
            await run_in_threadpool(self.predictor.prepare, new)
            if new.version == previous.version and new.name == previous.name and not force:
                return previous, previous
            # Warm the new pipeline before it takes traffic.
            with contextlib.suppress(Exception):
                self.predictor.predict(new, [self._example()])
            self.model = new  # one reference assignment: atomic for every request after it
            freeze_heap(collect=False)
            self.spec = spec
            self.metrics.set_model(new, previous)
            self.metrics.model_loads.labels("swapped").inc()
            log.info(
                "model swapped",
                extra={"from_version": previous.version, "to_version": new.version},
            )
            return previous, new

    def _example(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.schema.features:
            if c.dtype == "category":
                out[c.name] = c.categories[0]
            else:
                v = c.min if c.min is not None else 0
                out[c.name] = int(v) if c.dtype == "int" else float(v)
        return out

    async def poll(self) -> None:
        interval = self.settings.poll_interval
        while True:
            await asyncio.sleep(interval)
            try:
                await self.swap(self.spec)
            except Exception as exc:
                log.warning("model alias poll failed", extra={"error": str(exc)[:300]})


class RequestContext:
    """Pure ASGI middleware: request id, model headers, per-endpoint metrics."""

    def __init__(self, app, service: Service, endpoints: set[str]) -> None:
        self.app = app
        self.service = service
        self.endpoints = endpoints

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _REQUEST_ID.match(candidate):
                    rid = candidate
                break
        rid = rid or uuid.uuid4().hex
        scope["request_id"] = rid
        path = scope["path"]
        endpoint = path if path in self.endpoints else "other"
        status_holder = [500]
        service = self.service

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                version = scope.get("model_version") or service.model.version
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                headers.append((b"x-model-version", str(version).encode()))
                headers.append((b"x-model-name", service.model.name.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics = service.metrics
            metrics.requests.labels(endpoint, scope["method"], str(status_holder[0])).inc()
            metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)


def create_app(service: Service) -> FastAPI:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    writer = service.writer

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        writer.start()
        poller = None
        if service.settings.poll_interval > 0 and service.spec.follows_alias:
            poller = asyncio.create_task(service.poll())
        # Warm the pipeline, so the first client request is not the slow one.
        with contextlib.suppress(Exception):
            service.predictor.predict(service.model, [service._example()])
        freeze_heap()
        try:
            yield
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
            await run_in_threadpool(writer.close)

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
    )
    m = service.models

    def body(model: str) -> dict:
        return {
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{model}"}}},
            }
        }

    def errors(*codes: int) -> dict:
        text = {
            400: "Malformed JSON body.",
            401: "Missing API key.",
            403: "Invalid API key.",
            404: "Unknown request id.",
            413: "Batch larger than the configured maximum.",
            422: "A field breaks a rule (named in detail[].field and detail[].rule).",
            503: "Not ready / a store is unavailable.",
        }
        return {c: {"model": m.error, "description": text[c]} for c in codes}

    def route(path: str, method: str, fn: Callable, **kw) -> None:
        app.add_api_route(path, fn, methods=[method], response_class=Response, **kw)

    auth = (401, 403) if service.api_keys and service.settings.require_key else ()
    route(
        "/v1/predict",
        "POST",
        service.predict,
        summary="Predict one record",
        responses={200: {"model": m.predict_response}, **errors(400, *auth, 422)},
        openapi_extra=body("Features"),
        tags=["predict"],
    )
    route(
        "/v1/predict/batch",
        "POST",
        service.predict_batch,
        summary=f"Predict a batch (up to {service.settings.max_batch} records)",
        responses={200: {"model": m.batch_response}, **errors(400, *auth, 413, 422)},
        openapi_extra=body("BatchRequest"),
        tags=["predict"],
    )
    route(
        "/v1/model",
        "GET",
        service.model_info,
        summary="The served model: name, version, run, data version, metrics",
        responses={200: {"model": m.model_info}, **errors(*auth)},
        tags=["model"],
    )
    route(
        "/v1/feedback",
        "POST",
        service.feedback,
        summary="Report the true label of an earlier prediction",
        status_code=202,
        responses={202: {"model": m.feedback_response}, **errors(400, *auth, 404, 422, 503)},
        openapi_extra=body("FeedbackRequest"),
        tags=["feedback"],
    )
    route("/v1/health/live", "GET", service.live, summary="Liveness", tags=["health"])
    route(
        "/v1/health/ready",
        "GET",
        service.ready,
        summary="Readiness: a model is loaded",
        tags=["health"],
        responses=errors(503),
    )
    route(
        "/v1/admin/reload",
        "POST",
        service.reload,
        summary="Reload the model (API key required)",
        description=(
            "Loads the configured model reference again (or the one in the optional body "
            '{"model": "models:/<name>/<version>"}) beside the current model, then switches '
            "atomically; requests in flight finish on the model they started with."
        ),
        responses=errors(400, 401, 403, 422, 503),
        tags=["admin"],
    )

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)

    async def root(request: Request) -> Response:
        return HTMLResponse('<a href="/docs">API documentation</a>')

    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return service.error(request, exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", extra={"path": request.url.path})
        return service.error(request, 500, f"internal error: {type(exc).__name__}")

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _, defs = models_json_schema(
            [
                (m.features, "validation"),
                (m.batch_request, "validation"),
                (m.feedback_request, "validation"),
            ],
            ref_template="#/components/schemas/{model}",
        )
        components = doc.setdefault("components", {})
        components.setdefault("schemas", {}).update(defs.get("$defs", {}))
        if service.api_keys:
            components["securitySchemes"] = {
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": service.settings.api_key_header,
                }
            }
            for path, ops in doc["paths"].items():
                for op in ops.values():
                    needs = path.startswith("/v1/admin") or (
                        service.settings.require_key and not path.startswith("/v1/health")
                    )
                    if needs:
                        op["security"] = [{"ApiKey": []}]
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    endpoints = {r.path for r in app.routes if hasattr(r, "path")}
    app.add_middleware(RequestContext, service=service, endpoints=endpoints)
    return app
