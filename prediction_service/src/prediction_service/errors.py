"""The error envelope: every error the API returns has one shape (`Error`), raised as
`ApiError` anywhere in a request and turned into a response by the handlers installed here."""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("prediction_service.api")

JSON = "application/json"


class ErrorItem(BaseModel):
    field: str | None = Field(description="The field at fault, when there is one.")
    loc: list[str | int]
    rule: str = Field(description="The rule broken (e.g. greater_than_equal).")
    msg: str


class Error(BaseModel):
    error: str
    detail: list[ErrorItem] = []
    request_id: str
    model_version: str | None = None


class ApiError(Exception):
    """An error answer: status, message, the fields at fault, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        detail: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail or []
        self.headers = headers


def item(field: str | None, loc: list, rule: str, msg: str) -> dict:
    return {"field": field, "loc": loc, "rule": rule, "msg": msg}


def _listed(names: list, most: int = 5) -> str:
    shown = ", ".join(str(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def invalid_input(exc: ValidationError, prefix: list, *, batch: bool = False) -> ApiError:
    """A 422 naming the field (and rule) of each of pydantic's errors. The message names
    the first error, with its record's index in a batch, and says how many there are."""
    detail = []
    rows: list[int | None] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = [*prefix, *err["loc"]]
        field = next((p for p in reversed(err["loc"]) if isinstance(p, str)), None)
        detail.append(item(field, loc, err["type"], err["msg"]))
        rows.append(
            err["loc"][0] if batch and err["loc"] and isinstance(err["loc"][0], int) else None
        )
    if not detail:
        return ApiError(422, "invalid input", detail)

    def where(i: int) -> str:
        parts = [] if rows[i] is None else [f"record {rows[i]}"]
        if detail[i]["field"]:
            parts.append(f"field {detail[i]['field']!r}")
        return ", ".join(parts) + ": " if parts else ""

    first = f"{where(0)}{detail[0]['msg']}"
    if len(detail) == 1:
        return ApiError(422, f"invalid input: {first}", detail)
    count = f"{len(detail)} fields are wrong"
    if batch:
        records = sorted({r for r in rows if r is not None})
        count += f" in {len(records)} record{'s' if len(records) != 1 else ''}"
        count += f" ({'records' if len(records) != 1 else 'record'} {_listed(records)})"
    else:
        count += f" ({_listed(list(dict.fromkeys(d['field'] for d in detail if d['field'])))})"
    return ApiError(422, f"invalid input: {count}; first: {first}", detail)


def install(app: FastAPI, model_version: Callable[[], str | None]) -> None:
    """Answer ApiError, Starlette's HTTP errors (404, 405) and anything unexpected (500)
    with the envelope; the version is the one of the model the route serves, else
    `model_version()` (the only served model's; None with several)."""

    def envelope(
        request: Request,
        status: int,
        message: str,
        detail: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        served = request.scope.get("served")
        version = served.current.version if served is not None else model_version()
        if version is not None:
            request.scope["model_version"] = version
            if served is not None:
                request.scope["model_name"] = served.current.name
        payload = {
            "error": message,
            "detail": detail or [],
            "request_id": request.scope.get("request_id", ""),
            "model_version": version,
        }
        return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return envelope(request, exc.status, exc.message, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return envelope(request, exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", extra={"path": request.url.path})
        return envelope(request, 500, f"internal error: {type(exc).__name__}")
