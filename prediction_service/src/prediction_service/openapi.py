"""The OpenAPI document. The routes read their bodies themselves (the one-pass path), so
their request and response schemas are given here by reference, and the referenced models,
generated from the dataset schema, are added to the document's components."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from prediction_service.errors import JSON, Error
from prediction_service.schemas import ApiModels, ModelList

ERRORS = {
    400: "Malformed JSON body.",
    401: "Missing API key.",
    403: "Invalid API key.",
    404: "Unknown model (the message names the served ones), unknown request id, or a "
    "single-model route while several models are served.",
    413: "Body or batch larger than the configured maximum.",
    422: "A field breaks a rule (named in detail[].field and detail[].rule).",
    503: "Not ready / a store is unavailable.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries of error statuses, each with the envelope model."""
    return {c: {"model": Error, "description": ERRORS[c]} for c in codes}


def _ref(name: str) -> dict[str, Any]:
    return {JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def body(name: str) -> dict[str, Any]:
    """`openapi_extra=` of an operation whose JSON body is the component `name`."""
    return {"requestBody": {"required": True, "content": _ref(name)}}


def returns(name: str, description: str = "Successful Response") -> dict[str, Any]:
    """A `responses=` entry whose JSON body is the component `name`."""
    return {"description": description, "content": _ref(name)}


def _components(models: ApiModels) -> list[tuple[type, str]]:
    return [
        (models.features, "validation"),
        (models.batch_request, "validation"),
        (models.feedback_request, "validation"),
        (models.predict_response, "serialization"),
        (models.batch_response, "serialization"),
        (models.feedback_response, "serialization"),
        (models.model_info, "serialization"),
    ]


def build(app: FastAPI, service: Any, summaries: dict[str, str]) -> dict[str, Any]:
    """The document of `app`, with the schema-built components of every served model (and
    the plain-named ones of the single-model routes when one model is served); `summaries`
    overrides an operation's summary by path (those that name a setting)."""
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components: list[tuple[type, str]] = [(ModelList, "serialization")]
    for served in service.served.values():
        components += _components(served.models)
    if service.single_models is not None:
        components += _components(service.single_models)
    _, defs = models_json_schema(components, ref_template="#/components/schemas/{model}")
    doc.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
    for path, summary in summaries.items():
        for op in doc["paths"].get(path, {}).values():
            op["summary"] = summary
    return doc
