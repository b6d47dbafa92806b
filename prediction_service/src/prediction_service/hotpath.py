"""The single-record prediction routes and V2 inference answered straight from ASGI, ahead
of FastAPI.

`POST /v1/models/{name}/predict` (and `/v1/predict` with one model served) is most of a
service's traffic, and FastAPI's routing, middleware stack and request objects cost it more
than the model does. This path answers it with what the routed handler does (the one-pass
body validation, the routing of a canary, the micro-batched model call, the log row, the
shadow, the metrics and headers of middleware.RequestContext), and hands anything else to
the full app with the body it has read: a body the one-pass validation refuses, a missing
or wrong API key, a model call that raised. So every error is the full app's own answer,
and the two paths answer a valid request with the same bytes.

`POST /v2/models/{name}/infer` and `/v2/models/{name}/versions/{version}/infer` are
answered the same way, by the very `routes.v2.Inference` the routed handler calls: any
fault it raises (a version not served, a tensor or a value refused) hands the request over.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from prediction_service.middleware import REQUEST_ID, new_request_id
from prediction_service.rollout import pick
from prediction_service.service import ServedModel, Service

if TYPE_CHECKING:  # pragma: no cover
    from prediction_service.model import LoadedModel
    from prediction_service.routes.v2 import Inference

_CONTENT_TYPE = (b"content-type", b"application/json")
_V2_MODELS = "/v2/models/"
_V2_VERSIONS = "/versions/"
_V2_INFER = "/infer"


class HotPath:
    """Answers the single-record predict routes and V2 inference of `service` (`inferences`:
    each served model's); `app` answers the rest."""

    def __init__(self, app, service: Service, inferences: Iterable[Inference]) -> None:
        self.app = app
        self.service = service
        self.routes: dict[str, ServedModel] = {
            f"/v1/models/{s.name}/predict": s for s in service.served.values()
        }
        if service.single is not None:
            self.routes["/v1/predict"] = service.single
        # V2: (inference, the version a route names, the endpoint its metrics count under);
        # a version route is counted under its template, as RequestContext counts it.
        self.by_name = {i.served.name: i for i in inferences}
        self.v2: dict[str, tuple[Inference, str | None, str]] = {
            f"{_V2_MODELS}{name}{_V2_INFER}": (i, None, f"{_V2_MODELS}{name}{_V2_INFER}")
            for name, i in self.by_name.items()
        }
        auth = service.auth
        self.keys = auth.keys if auth.required else None
        self.key_header = auth.header.lower().encode("latin-1")
        # The labelled metric children, looked up once each (`labels()` locks and checks).
        self._requests: dict[str, Any] = {}
        self._latency: dict[str, Any] = {}
        self._predictions: dict[tuple[str, str, str], Any] = {}

    def _versioned(self, path: str) -> tuple[Inference, str | None, str] | None:
        """The V2 route of `/v2/models/{name}/versions/{version}/infer`, as Starlette
        matches it (a version of one segment at least), or None."""
        if not (path.startswith(_V2_MODELS) and path.endswith(_V2_INFER)):
            return None
        name, sep, wanted = path[len(_V2_MODELS) : -len(_V2_INFER)].partition(_V2_VERSIONS)
        inference = self.by_name.get(name)
        if inference is None or not sep or not wanted or "/" in wanted:
            return None
        return inference, wanted, f"{_V2_MODELS}{name}{_V2_VERSIONS}{{version}}{_V2_INFER}"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        served = self.routes.get(path)
        v2 = None
        if served is None:
            v2 = self.v2.get(path) or self._versioned(path)
            if v2 is None:
                await self.app(scope, receive, send)
                return
            served = v2[0].served
        t0 = time.perf_counter()
        rid = length = key = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"x-request-id":
                if rid is None:  # the first, as RequestContext takes it
                    rid = value.decode("latin-1")
            elif name == self.key_header:
                key = value
        if self.keys is not None and (
            key is None or not any(hmac.compare_digest(key, k) for k in self.keys)
        ):
            await self.app(scope, receive, send)  # the full app answers 401 or 403
            return
        if length is None or not length.isdigit() or int(length) > served.inputs.max_body:
            await self.app(scope, receive, send)
            return
        body = await _read(receive)
        if rid is None or not REQUEST_ID.match(rid):
            rid = new_request_id()
        if v2 is None:
            await self._v1(served, scope, receive, send, body, rid, t0)
        else:
            await self._v2(v2, scope, receive, send, body, rid, t0)

    async def _v1(self, served: ServedModel, scope, receive, send, body, rid, t0) -> None:
        try:
            record = served.inputs.record_json(body)
            scope["request_id"] = rid
            model, role, shadow = pick(served, scope)
            value = await served.batcher.submit(model, record)
        except Exception:  # ValidationError included
            await self.app(scope, _replay(body, receive), send)
            return
        service = self.service
        service.log_row(
            served, rid, model, record, value, (time.perf_counter() - t0) * 1000.0, role
        )
        counted = self._predictions.get((model.name, model.version, role))
        if counted is None:
            counted = self._predictions[(model.name, model.version, role)] = (
                service.metrics.predictions.labels(model.name, model.version, "single", role)
            )
        counted.inc()
        await self._send(send, served.answer(rid, model, value), rid, model, role)
        if shadow is not None:  # after the answer: the shadow never delays it
            service.shadow.submit(served, shadow, [rid], [record], "single")
        self._count(scope["path"], t0)

    async def _v2(self, route, scope, receive, send, body, rid, t0) -> None:
        inference, wanted, endpoint = route
        scope["request_id"] = rid
        try:
            answer = await inference(scope, wanted, lambda: _parsed(body), t0)
        except Exception:  # an ApiError included: the full app answers it
            await self.app(scope, _replay(body, receive), send)
            return
        await self._send(send, answer.payload, rid, answer.model, answer.role)
        inference.after(answer)
        self._count(endpoint, t0)

    @staticmethod
    async def _send(send, answer: dict, rid: str, model: LoadedModel, role: str) -> None:
        """A 200 with the bytes and headers of responses.respond and RequestContext."""
        payload = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(payload)).encode()),
                    _CONTENT_TYPE,
                    (b"x-request-id", rid.encode()),
                    (b"x-model-version", str(model.version).encode()),
                    (b"x-model-name", str(model.name).encode()),
                    (b"x-model-role", role.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _count(self, endpoint: str, t0: float) -> None:
        requests = self._requests.get(endpoint)
        if requests is None:
            metrics = self.service.metrics
            requests = self._requests[endpoint] = metrics.requests.labels(endpoint, "POST", "200")
            self._latency[endpoint] = metrics.latency.labels(endpoint)
        requests.inc()
        self._latency[endpoint].observe(time.perf_counter() - t0)


async def _parsed(body: bytes) -> Any:
    """The body as JSON (a fault: the full app answers it, as inputs.json does)."""
    return orjson.loads(body)


async def _read(receive) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    parts = [body]
    while message.get("more_body", False):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


def _replay(body: bytes, receive):
    """A receive that gives the full app the body already read, then the connection's own
    messages (a disconnect)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
