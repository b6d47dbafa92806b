"""The Open Inference Protocol's (V2) JSON objects: the request envelope checked in one pass,
the response models, and each served model's inference request as an exact JSON Schema
for the OpenAPI document.

The document describes one row (a JSON Schema cannot say that every input holds the same
number of rows), in both forms the service takes: an input per feature, or one table input.
Every body it describes is accepted, so schemathesis can fuzz the operation like /v1's; the
service also takes N rows, nested data and the other datatypes its description names.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.json_schema import models_json_schema
from typing_extensions import TypedDict

from mlops_core.schema import DatasetSchema

Parameters = dict[str, Any]


# -- the request envelope (extra keys ignored: KServe's client sends `model_name`, and the
# protocol's extensions add fields of their own) -----------------------------------------
class _Input(TypedDict):
    __pydantic_config__ = ConfigDict(strict=True)  # type: ignore[misc]
    name: str
    shape: list[int]  # a dimension below 0 is refused by v2codec (a constraint here
    # costs the one-pass check three times its time)
    datatype: str
    data: list[Any]
    parameters: NotRequired[Parameters]


class _Output(TypedDict):
    __pydantic_config__ = ConfigDict(strict=True)  # type: ignore[misc]
    name: str
    parameters: NotRequired[Parameters]


class _Request(TypedDict):
    __pydantic_config__ = ConfigDict(strict=True)  # type: ignore[misc]
    id: NotRequired[str]
    parameters: NotRequired[Parameters]
    inputs: Annotated[list[_Input], Field(min_length=1)]
    outputs: NotRequired[list[_Output]]


envelope = TypeAdapter(_Request)


# -- responses ----------------------------------------------------------------------------
class V2ServerLive(BaseModel):
    """GET /v2/health/live."""

    live: bool


class V2ServerReady(BaseModel):
    """GET /v2/health/ready: every served model is loaded (503 while not)."""

    ready: bool


class V2ServerMetadata(BaseModel):
    """GET /v2."""

    name: str
    version: str
    extensions: list[str]


class V2ModelReady(BaseModel):
    """GET /v2/models/{name}[/versions/{version}]/ready."""

    name: str
    ready: bool


class V2MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 for a dimension of any size (the rows).")


class V2ModelMetadata(BaseModel):
    """GET /v2/models/{name}[/versions/{version}]: one input per feature, in schema order,
    and the outputs."""

    name: str
    versions: list[str] = Field(
        description="The versions served: the champion's, then a shadow's or canary's "
        "(each answers at /versions/{version}/...)."
    )
    platform: str = Field(description="The model's MLflow flavor (sklearn, ...).")
    inputs: list[V2MetadataTensor]
    outputs: list[V2MetadataTensor]


class V2OutputTensor(BaseModel):
    name: str = Field(description="predict (the prediction); a classifier also predict_proba.")
    datatype: str
    shape: list[int]
    data: list[Any] = Field(description="Row-major, flat.")
    parameters: dict[str, str | int | float | bool] | None = Field(
        None,
        description="predict_proba: `classes`, the class of each column, as a JSON array "
        "in a string (a parameter is a string, a number or a boolean).",
    )


class V2InferenceResponse(BaseModel):
    """POST /v2/models/{name}[/versions/{version}]/infer."""

    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    id: str = Field(description="The request's `id`; the request id when it gave none.")
    parameters: dict[str, str | int | float | bool] = Field(
        description="`request_id`: the id its log rows carry (row i of N > 1: "
        "<request_id>-<i>), also the X-Request-ID header."
    )
    outputs: list[V2OutputTensor]


RESPONSES: tuple[type[BaseModel], ...] = (
    V2ServerLive,
    V2ServerReady,
    V2ServerMetadata,
    V2ModelReady,
    V2ModelMetadata,
    V2InferenceResponse,
)


# -- the documented request of one model ---------------------------------------------------
def _one(value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": value, "minItems": 1, "maxItems": 1}


def _input(
    name: dict[str, Any], datatypes: list[str], shape: list[int], data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": name,
            "shape": {"type": "array", "items": {"type": "integer"}, "const": shape},
            "datatype": {"type": "string", "enum": datatypes},
            "data": data,
            "parameters": {"type": "object"},
        },
    }


def request_schema(
    schema: DatasetSchema,
    values: dict[str, dict[str, Any]],
    documented: dict[str, list[str]],
    table_types: list[str],
    outputs: list[str],
    max_batch: int,
) -> dict[str, Any]:
    """The JSON Schema of one row's inference request. `values`: each feature's value
    schema (the model's /v1 Features component); `documented`: each feature's datatypes."""
    names = list(schema.feature_names)
    per_feature = []
    for column in schema.features:
        value = {k: v for k, v in values[column.name].items() if k != "title"}
        name = {"type": "string", "const": column.name}
        types = documented[column.name]
        per_feature.append(
            {
                "title": f"input {column.name}",
                "anyOf": [
                    _input(name, types, [1], _one(value)),
                    _input(name, types, [1, 1], {"anyOf": [_one(value), _one(_one(value))]}),
                ],
            }
        )
    row = {
        "type": "array",
        "prefixItems": [{k: v for k, v in values[n].items() if k != "title"} for n in names],
        "items": False,
        "minItems": len(names),
    }
    table = _input(
        {"type": "string", "not": {"enum": names}},
        table_types,
        [1, len(names)],
        {"anyOf": [row, _one(row)]},
    )
    table["title"] = "table input"
    kinds = (
        "a BYTES table holds each column's JSON values, or every element as a string (then a "
        "number column's text is read as its number)"
        if "BYTES" in table_types
        else "a numeric table"
    )
    return {
        "type": "object",
        "title": f"InferenceRequest of {schema.name}",
        "description": (
            f"An inference request of model {schema.name!r} (Open Inference Protocol): either "
            "one input per feature, named after it, of shape [N] or [N, 1] (any order), or "
            f"one table input of any other name, of shape [N, {len(names)}], its columns the "
            f"features in schema order ({', '.join(names)}); {kinds}. `data` is flat in "
            "row-major order or nested as the shape. Documented here for one row; up to "
            f"{max_batch} rows are taken (MLOPS_SERVE_MAX_BATCH), and a float feature also "
            "takes an integer datatype holding whole numbers. Each value is checked by the "
            "rules of the model's /v1 Features."
        ),
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string", "description": "Echoed in the response."},
            "parameters": {"type": "object"},
            "inputs": {
                "anyOf": [
                    {
                        "type": "array",
                        "prefixItems": per_feature,
                        "items": False,
                        "minItems": len(names),
                    },
                    {"type": "array", "prefixItems": [table], "items": False, "minItems": 1},
                ]
            },
            "outputs": {
                "type": "array",
                "description": "The outputs to return (all when none are named).",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "enum": outputs},
                        "parameters": {"type": "object"},
                    },
                },
            },
        },
    }


def response_components() -> dict[str, Any]:
    """The JSON Schemas of the response models, by component name."""
    _, defs = models_json_schema(
        [(m, "serialization") for m in RESPONSES], ref_template="#/components/schemas/{model}"
    )
    return defs.get("$defs", {})
