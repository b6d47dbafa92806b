"""The single-record prediction routes answered straight from ASGI, ahead of FastAPI.

`POST /v1/models/{name}/predict` (and `/v1/predict` with one model served) is most of a
service's traffic, and FastAPI's routing, middleware stack and request objects cost it more
than the model does. This path answers it with what the routed handler does (the one-pass
body validation, the routing of a canary, the micro-batched model call, the log row, the
shadow, the metrics and headers of middleware.RequestContext), and hands anything else to
the full app with the body it has read: a body the one-pass validation refuses, a missing
or wrong API key, a model call that raised. So every error is the full app's own answer,
and the two paths answer a valid request with the same bytes.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

import orjson

from prediction_service.middleware import REQUEST_ID, new_request_id
from prediction_service.rollout import pick
from prediction_service.service import ServedModel, Service

_CONTENT_TYPE = (b"content-type", b"application/json")


class HotPath:
    """Answers the single-record predict routes of `service`; `app` answers the rest."""

    def __init__(self, app, service: Service) -> None:
        self.app = app
        self.service = service
        self.routes: dict[str, ServedModel] = {
            f"/v1/models/{s.name}/predict": s for s in service.served.values()
        }
        if service.single is not None:
            self.routes["/v1/predict"] = service.single
        auth = service.auth
        self.keys = auth.keys if auth.required else None
        self.key_header = auth.header.lower().encode("latin-1")
        # The labelled metric children, looked up once each (`labels()` locks and checks).
        self._requests: dict[str, Any] = {}
        self._latency: dict[str, Any] = {}
        self._predictions: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope, receive, send) -> None:
        served = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if served is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        rid = length = key = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"x-request-id":
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
        try:
            record = served.inputs.record_json(body)
            if rid is None or not REQUEST_ID.match(rid):
                rid = new_request_id()
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
        payload = orjson.dumps(served.answer(rid, model, value), option=orjson.OPT_SERIALIZE_NUMPY)
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
        if shadow is not None:  # after the answer: the shadow never delays it
            service.shadow.submit(served, shadow, [rid], [record], "single")
        path = scope["path"]
        requests = self._requests.get(path)
        if requests is None:
            requests = self._requests[path] = service.metrics.requests.labels(path, "POST", "200")
            self._latency[path] = service.metrics.latency.labels(path)
        requests.inc()
        self._latency[path].observe(time.perf_counter() - t0)


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
