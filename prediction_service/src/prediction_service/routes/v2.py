"""The Open Inference Protocol (V2) REST endpoints that KServe, Triton and MLServer speak,
beside /v1 and on the same served models:

    GET  /v2/health/live, /v2/health/ready, /v2 (server metadata)
    GET  /v2/models/{name}[/versions/{version}]          (model metadata)
    GET  /v2/models/{name}[/versions/{version}]/ready
    POST /v2/models/{name}[/versions/{version}]/infer

An inference runs as /v1 runs: the values are checked by the model's own request models,
a single row joins the micro-batcher, N rows take one pipeline call, and every row is one
prediction log row (the request id, `<request id>-<i>` for row i of several). Tensors are
read and written by v2codec.

Like /v1's, each served model's routes are concrete paths made at start-up (its own
request component in the OpenAPI document); a name no model is served under reaches the
catch-alls, a 404 naming the served models. With API keys required, model metadata and
inference need one; the health routes (server and model readiness, which a kubelet or a
client's wait-for-ready loop calls without credentials, as KServe's server allows) and the
server metadata (no model in it) do not.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from prediction_service.deps import ServiceDep
from prediction_service.errors import ApiError, Error
from prediction_service.model import LoadedModel
from prediction_service.openapi import body, returns
from prediction_service.responses import respond
from prediction_service.rollout import Candidate, pick
from prediction_service.schemas import component_prefix
from prediction_service.service import ServedModel, Service
from prediction_service.v2codec import FLOAT, PROBA, Codec, metadata_datatype
from prediction_service.v2schemas import request_schema, response_components

PREFIX = "/v2"
SERVER_NAME = "mlops-prediction-service"
TAGS: list = ["Open Inference Protocol (V2)"]

ERRORS = {
    400: "The request breaks the protocol or a value breaks the model's rules: the message "
    "names the input (and row).",
    404: "Unknown model (the message names the served ones) or a version it does not serve.",
    413: "More rows than the maximum, or a body larger than the limit.",
}


VERSIONED = (
    "Also at `{path}` for each version the model serves: the champion's, and a shadow's or "
    "canary's (that version answers; any other is a 404 naming the served ones)."
)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": Error, "description": ERRORS[c]} for c in codes}


def _server_version() -> str:
    try:
        return version("prediction-service")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0"


def server_router(service: Service) -> APIRouter:
    """Liveness, readiness and the server metadata (no API key: probes call them)."""
    router = APIRouter(prefix=PREFIX, tags=TAGS, default_response_class=Response)
    metadata = {"name": SERVER_NAME, "version": _server_version(), "extensions": []}

    @router.get("/health/live", summary="Server live", responses={200: returns("V2ServerLive")})
    async def live(request: Request) -> Response:
        return respond(request, {"live": True}, service.default_model)

    @router.get(
        "/health/ready",
        summary="Server ready: every served model is loaded",
        responses={
            200: returns("V2ServerReady"),
            503: returns("V2ServerReady", "A model is not loaded yet."),
        },
    )
    async def ready(request: Request) -> Response:
        ok = service.ready
        return respond(request, {"ready": ok}, service.default_model, 200 if ok else 503)

    async def server_metadata(request: Request) -> Response:
        return respond(request, metadata, service.default_model)

    router.add_api_route(
        "",
        server_metadata,
        methods=["GET"],
        summary="Server metadata: name, version, extensions",
        responses={200: returns("V2ServerMetadata")},
    )
    router.add_api_route("/", server_metadata, methods=["GET"], include_in_schema=False)
    return router


def _validated(served: ServedModel, codec: Codec, rows: list[dict], where) -> list[dict]:
    """The rows checked by the model's request models (the /v1 rules): the one-pass
    validator first, then category spellings normalised and every fault named."""
    one = served.models.record_json.validate_python
    try:
        return [one(r) for r in rows]
    except ValidationError:
        pass
    for r in rows:
        served.inputs.normalise(r)
    try:
        return [m.__dict__ for m in served.models.features_list.validate_python(rows)]
    except ValidationError as exc:
        raise codec.invalid(exc, where, len(rows)) from None


def _served(served: ServedModel) -> dict[str, tuple[LoadedModel, str]]:
    """(model, role) of each version served, by version: the champion's first, then a
    candidate's (its role: its mode)."""
    model, cand = served.manager.current, served.manager.candidate  # each read once
    out = {model.version: (model, served.role)}
    if cand is not None:
        out.setdefault(cand.model.version, (cand.model, cand.mode))
    return out


def _not_served(served: ServedModel, wanted: str, versions: list[str]) -> ApiError:
    listed = " and ".join(versions)
    return ApiError(
        404,
        f"model {served.name!r} has no version {wanted!r} served (it serves "
        f"version{'s' if len(versions) > 1 else ''} {listed})",
    )


def _version(served: ServedModel, wanted: str | None) -> tuple[LoadedModel, str, list[str]]:
    """(the version `wanted` (None: the champion), its role, every served version): the
    champion or the candidate; a 404 naming the served versions for another."""
    versions = _served(served)
    found = versions.get(wanted) if wanted else next(iter(versions.values()))
    if found is None:
        raise _not_served(served, str(wanted), list(versions))
    return found[0], found[1], list(versions)


@dataclass(slots=True)
class Answer:
    """An inference's answer (its body, the model that made it, that model's role) and what
    runs after it is sent: the shadow's rows."""

    payload: dict[str, Any]
    model: LoadedModel
    role: str
    shadow: Candidate | None
    ids: list[str]
    records: list[dict]
    kind: str


class Inference:
    """One served model's inference: what the routed handler and the hot path (hotpath.py)
    both run, so the two answer, log and count alike."""

    def __init__(self, service: Service, served: ServedModel) -> None:
        self.service = service
        self.served = served
        self.codec = Codec(served.schema, service.settings.max_batch)
        # The labelled prediction counters, looked up once each (`labels()` locks and checks).
        self._counted: dict[tuple[str, str, str, str], Any] = {}

    async def __call__(
        self, scope, wanted: str | None, read: Callable[[], Awaitable[Any]], t0: float
    ) -> Answer:
        """The answer to the request of `scope` (its request id set), its body parsed by
        `read`, on version `wanted` (None: the champion or a canary); an ApiError for a
        version not served or a request the codec or the request models refuse."""
        served, codec, service = self.served, self.codec, self.service
        # The model this request runs on (the champion, or a canary by the routing key;
        # a version route: the one it names), whatever swaps meanwhile.
        model, role, shadow = pick(served, scope, wanted)
        if wanted is not None and wanted != model.version:
            raise _not_served(served, wanted, list(_served(served)))
        req = codec.request(await read())
        rows, where = codec.rows(req)
        records = _validated(served, codec, rows, where)
        outs = codec.wanted(req)
        rid = scope["request_id"]
        n = len(records)
        if n == 1:
            values = [await served.batcher.submit(model, records[0])]
            ids = [rid]
        else:
            values = await run_in_threadpool(served.predictor.predict, model, records)
            ids = [f"{rid}-{i}" for i in range(n)]
        ms = (time.perf_counter() - t0) * 1000.0
        payload = {
            "model_name": served.name,
            "model_version": model.version,
            "id": req.get("id", rid),
            "parameters": {"request_id": rid},
            "outputs": codec.outputs(values, outs),
        }
        # Logged and counted once the answer is made: a fault before this (the hot path
        # then hands the request to the full app) leaves no row behind.
        if n == 1:
            service.log_row(served, rid, model, records[0], values[0], ms, role)
        else:
            service.log_rows(served, rid, ids, model, records, values, ms, role)
        kind = "single" if n == 1 else "batch"
        key = (model.name, model.version, kind, role)
        counted = self._counted.get(key)
        if counted is None:
            counted = self._counted[key] = service.metrics.predictions.labels(*key)
        counted.inc(n)
        return Answer(payload, model, role, shadow, ids, records, kind)

    def after(self, answer: Answer) -> None:
        """What runs once the answer is sent: the shadow never delays it."""
        if answer.shadow is not None:
            self.service.shadow.submit(
                self.served, answer.shadow, answer.ids, answer.records, answer.kind
            )


def model_routers(service: Service, inference: Inference) -> tuple[APIRouter, APIRouter]:
    """One served model's routes at concrete paths: (metadata and inference, readiness)."""
    served = inference.served
    name = served.name
    base = f"{PREFIX}/models/{name}"
    slug = name.replace("-", "_")
    p = component_prefix(name)
    codec = inference.codec
    inputs = [
        {"name": c.name, "datatype": metadata_datatype(c), "shape": [-1]}
        for c in served.schema.features
    ]
    outputs = [
        {"name": "predict", "datatype": "BYTES" if codec.classifier else "FP64", "shape": [-1]}
    ]
    if codec.classifier:
        outputs.append({"name": PROBA, "datatype": "FP64", "shape": [-1, len(codec.classes)]})

    def metadata(request: Request, wanted: str | None) -> Response:
        request.scope["served"] = served
        model, role, versions = _version(served, wanted)
        payload = {
            "name": name,
            "versions": versions,
            "platform": model.flavor,
            "inputs": inputs,
            "outputs": outputs,
        }
        return respond(request, payload, model, role=role)

    def ready(request: Request, wanted: str | None) -> Response:
        request.scope["served"] = served
        model, role, _ = _version(served, wanted)
        return respond(request, {"name": name, "ready": True}, model, role=role)

    async def infer(request: Request, wanted: str | None) -> Response:
        t0 = time.perf_counter()
        request.scope["served"] = served
        answer = await inference(request.scope, wanted, lambda: served.inputs.json(request), t0)
        response = respond(request, answer.payload, answer.model, role=answer.role)
        inference.after(answer)
        return response

    async def model_metadata(request: Request) -> Response:
        return metadata(request, None)

    async def version_metadata(request: Request) -> Response:
        return metadata(request, request.path_params["version"])

    async def model_ready(request: Request) -> Response:
        return ready(request, None)

    async def version_ready(request: Request) -> Response:
        return ready(request, request.path_params["version"])

    async def model_infer(request: Request) -> Response:
        return await infer(request, None)

    async def version_infer(request: Request) -> Response:
        return await infer(request, request.path_params["version"])

    what = f"{served.task} model {name!r}"
    guarded = APIRouter(prefix=base, tags=TAGS, default_response_class=Response)
    open_ = APIRouter(prefix=base, tags=TAGS, default_response_class=Response)
    # router, path, handler, method, operation, summary, response, errors, request body;
    # inference first: routes are matched in order, at a cost each (FastAPI 0.156).
    routes = (
        (guarded, "/infer", model_infer, "POST", "v2_infer",
         f"Infer with the {what}", "V2InferenceResponse", (400, 413), "InferenceRequest"),
        (guarded, "", model_metadata, "GET", "v2_model_metadata",
         f"Metadata of the {what}: inputs, outputs, versions", "V2ModelMetadata", (), None),
        (guarded, "/versions/{version}/infer", version_infer, "POST", "v2_version_infer",
         f"Infer with a version of the {what}", "V2InferenceResponse", (400, 404, 413),
         "InferenceRequest"),
        (guarded, "/versions/{version}", version_metadata, "GET", "v2_version_metadata",
         f"Metadata of a version of the {what}", "V2ModelMetadata", (404,), None),
        (open_, "/ready", model_ready, "GET", "v2_model_ready",
         f"Whether the {what} is ready", "V2ModelReady", (), None),
        (open_, "/versions/{version}/ready", version_ready, "GET", "v2_version_ready",
         f"Whether a version of the {what} is ready", "V2ModelReady", (404,), None),
    )  # fmt: skip
    for router, path, handler, method, op, summary, returned, failures, request in routes:
        # A route of a version is the same operation as its model's, which the document
        # describes (saying so) in its place: fuzzing each twice would double the cost of
        # the test suite's schemathesis run for no new behaviour.
        versioned = "{version}" in path
        router.add_api_route(
            path,
            handler,
            methods=[method],
            name=f"{op}_{slug}",
            summary=summary,
            description=None
            if versioned
            else VERSIONED.format(path=f"{base}/versions/{{version}}{path}"),
            responses={200: returns(returned), **_errors(*failures)},
            openapi_extra=body(f"{p}{request}") if request else None,
            include_in_schema=not versioned,
        )
    return guarded, open_


def unknown() -> tuple[APIRouter, APIRouter]:
    """Catch-alls after the concrete routes: (metadata and inference, readiness) of a model
    that is not served, a 404 naming the served ones."""
    guarded = APIRouter(prefix=f"{PREFIX}/models", include_in_schema=False)
    open_ = APIRouter(prefix=f"{PREFIX}/models", include_in_schema=False)

    async def not_served(name: str, service: ServiceDep) -> Response:
        service.get(name)  # raises the 404
        raise AssertionError("unreachable")  # pragma: no cover

    for path in ("/{name}", "/{name}/versions/{version}"):
        guarded.add_api_route(path, not_served, methods=["GET"])
        guarded.add_api_route(f"{path}/infer", not_served, methods=["POST"])
        open_.add_api_route(f"{path}/ready", not_served, methods=["GET"])
    return guarded, open_


def components(service: Service) -> dict[str, Any]:
    """The OpenAPI components of the V2 routes: the response models, and each served
    model's inference request (<Prefix>InferenceRequest), built from its schema."""
    out = response_components()
    for served in service.served.values():
        codec = Codec(served.schema, service.settings.max_batch)
        documented = {
            c.name: list(codec.accepts[c.name] if c.dtype != "float" else FLOAT)
            for c in served.schema.features
        }
        table = ["BYTES"] if codec.has_categories else list(FLOAT)
        values = served.models.features.model_json_schema()["properties"]
        out[f"{component_prefix(served.name)}InferenceRequest"] = request_schema(
            served.schema,
            values,
            documented,
            table,
            list(codec.output_names),
            service.settings.max_batch,
        )
    return out
