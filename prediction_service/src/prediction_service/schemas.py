"""Request and response models generated from the dataset schema.

Nothing here names a column: every field, type, range, allowed value and description comes
from the schema file, so /docs and the OpenAPI document describe the served dataset.

Types are as strict as the document says: a number field takes JSON numbers only, an
integer field whole JSON numbers only (3 and 3.0, as JSON Schema counts them); booleans
and numeric strings are refused, where pydantic's lax mode would take `false` as 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic_core import core_schema
from typing_extensions import TypedDict

from mlops_core.schema import Column, DatasetSchema


@dataclass(frozen=True)
class WholeNumber:
    """An integer field: a JSON number with no fractional part, within [ge, le].

    A strict number first (no bool, no string), then pydantic's integer check; in Rust,
    so the one-pass path stays one pass.
    """

    ge: float | None = None
    le: float | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        number = core_schema.custom_error_schema(
            core_schema.float_schema(strict=True, allow_inf_nan=False),
            custom_error_type="int_type",  # "Input should be a valid integer"
        )
        whole = core_schema.int_schema(
            ge=math.ceil(self.ge) if self.ge is not None else None,
            le=math.floor(self.le) if self.le is not None else None,
        )
        return core_schema.chain_schema([number, whole])

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.ge is not None:
            out["minimum"] = self.ge
        if self.le is not None:
            out["maximum"] = self.le
        return out


def _field(column: Column) -> tuple[Any, Any]:
    description = column.description or column.name
    if column.dtype == "category":
        kind: Any = Literal[tuple(column.categories or ())]  # type: ignore[misc]
        description += (
            " Allowed values (spelling is normalised: trimmed, lower case): "
            + ", ".join(column.categories or ())
            + "."
        )
        return kind, Field(..., description=description, examples=[column.categories[0]])
    example = column.min if column.min is not None else 0
    if column.synthetic and column.synthetic.get("values"):
        example = column.synthetic["values"][0]
    elif column.min is not None and column.max is not None:
        example = column.min + (column.max - column.min) / 10
    if column.dtype == "int":
        kind = Annotated[int, WholeNumber(column.min, column.max)]
        return kind, Field(..., description=description, examples=[int(example)])
    return float, Field(
        ...,
        description=description,
        ge=column.min,
        le=column.max,
        strict=True,
        allow_inf_nan=False,
        examples=[float(example)],
    )


class CandidateSummary(BaseModel):
    """The version served beside the champion (rollout.py): a shadow or a canary."""

    model_version: str
    mode: Literal["shadow", "canary"] = Field(
        description="shadow: predicts every request off the response path, never answers; "
        "canary: answers `weight` percent of the requests, chosen by the X-Routing-Key "
        "header (else the request id)."
    )
    weight: float | None = Field(
        description="canary: percent of the requests it answers (0 < w < 100); shadow: null."
    )
    fast_path: bool


class CandidateInfo(CandidateSummary):
    """GET /v1/models/{name}: the candidate with its lineage, as the champion's."""

    model_uri: str
    run_id: str | None = None
    data_version: str | None = None
    metrics: dict[str, float] = {}
    flavor: str
    fast_path_reason: str | None = None
    loaded_at: float


@dataclass
class ApiModels:
    features: type[BaseModel]
    batch_request: type[BaseModel]
    predict_response: type[BaseModel]
    batch_response: type[BaseModel]
    feedback_request: type[BaseModel]
    feedback_response: type[BaseModel]
    model_info: type[BaseModel]
    features_list: TypeAdapter
    # Straight from request bytes to plain dicts, in one pass: the fast path for bodies
    # that are valid as sent (canonical category spellings). Anything they refuse goes
    # through the models above, which normalise and name the fault.
    record_json: TypeAdapter
    batch_json: TypeAdapter


def component_prefix(model_name: str) -> str:
    """The OpenAPI component prefix of a model: house-price -> HousePrice (so each served
    model's request and response schemas have names of their own)."""
    return "".join(part[:1].upper() + part[1:] for part in model_name.split("-") if part)


def build_models(schema: DatasetSchema, max_batch: int, prefix: str = "") -> ApiModels:
    """The request and response models of one model's routes; `prefix` starts their names
    (the single-model routes' components have none)."""
    fields = {c.name: _field(c) for c in schema.features}
    features = create_model(
        f"{prefix}Features",
        __config__=ConfigDict(extra="forbid", title=f"{prefix}Features"),
        __doc__=f"One record of dataset {schema.name!r}: {schema.description}",
        **fields,
    )
    batch_request = create_model(
        f"{prefix}BatchRequest",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"Up to {max_batch} records of {schema.name!r} to predict in one call.",
        records=(list[features], Field(..., min_length=1, max_length=max_batch)),
    )
    label = schema.label

    class Meta(BaseModel):
        request_id: str = Field(description="Id of this request (also the X-Request-ID header).")
        model_name: str
        model_version: str = Field(description="Model version that answered.")

    if schema.is_classification:
        classes = tuple(schema.classes)
        klass: Any = Literal[classes]  # type: ignore[valid-type]
        probabilities: Any = dict[klass, float]  # type: ignore[valid-type]
        listed = ", ".join(classes)
        predict_fields: dict[str, Any] = {
            "prediction": (
                klass,
                Field(
                    description=f"Predicted {label.name} (the most probable class): "
                    f"{label.description}"
                ),
            ),
            "probabilities": (
                probabilities,
                Field(description=f"Probability of every class ({listed}); they sum to 1."),
            ),
        }
        batch_fields: dict[str, Any] = {
            "predictions": (list[klass], Field(description=f"Predicted {label.name}, in order.")),
            "probabilities": (
                list[probabilities],
                Field(description="Each record's class probabilities, in order."),
            ),
        }
        feedback_label: Any = (
            klass,
            Field(
                description=f"True {label.name} of that prediction: one of {listed} "
                "(spelling is normalised: trimmed, lower case)."
            ),
        )
    else:
        predict_fields = {
            "prediction": (
                float,
                Field(description=f"Predicted {label.name}: {label.description}"),
            ),
        }
        batch_fields = {
            "predictions": (list[float], Field(description=f"Predicted {label.name}, in order.")),
        }
        feedback_label = (
            float,
            Field(
                description=f"True {label.name} for that prediction.",
                ge=label.min,
                le=label.max,
                strict=True,
                allow_inf_nan=False,
            ),
        )
    predict_response = create_model(f"{prefix}PredictResponse", __base__=Meta, **predict_fields)
    batch_response = create_model(
        f"{prefix}BatchPredictResponse",
        __base__=Meta,
        request_ids=(list[str], Field(description="One id per record, in order.")),
        **batch_fields,
    )
    feedback_request = create_model(
        f"{prefix}FeedbackRequest",
        __config__=ConfigDict(extra="forbid"),
        request_id=(str, Field(min_length=1, max_length=64)),
        label=feedback_label,
    )
    feedback_response = create_model(
        f"{prefix}FeedbackResponse",
        request_id=(str, ...),
        accepted=(bool, ...),
        model_name=(str, ...),
        model_version=(str, ...),
    )
    model_info = create_model(
        f"{prefix}ModelInfo",
        request_id=(str, ...),
        model_name=(str, ...),
        model_version=(str, ...),
        model_uri=(str, ...),
        task=(str, Field(description="regression or classification")),
        role=(str, Field(description="The role logged with its predictions (champion, ...).")),
        alias=(str | None, None),
        run_id=(str | None, None),
        data_version=(str | None, None),
        metrics=(dict[str, float], {}),
        flavor=(str, ...),
        fast_path=(bool, Field(description="Whether the verified numpy path answers.")),
        fast_path_reason=(str | None, Field(None, description="Why it does not, if not.")),
        loaded_at=(float, ...),
        features=(list[str], ...),
        label=(str, ...),
        classes=(list[str] | None, Field(None, description="A classifier's classes.")),
        candidate=(
            CandidateInfo | None,
            Field(None, description="The shadow or canary served beside it (null: none)."),
        ),
    )

    return ApiModels(
        features=features,
        batch_request=batch_request,
        predict_response=predict_response,
        batch_response=batch_response,
        feedback_request=feedback_request,
        feedback_response=feedback_response,
        model_info=model_info,
        features_list=TypeAdapter(list[features]),
        **_json_adapters(fields, max_batch),
    )


class ModelSummary(BaseModel):
    name: str
    task: str
    model_version: str
    alias: str | None = None
    role: str
    fast_path: bool
    url: str = Field(description="Path of its predict route.")
    candidate: CandidateSummary | None = Field(
        None, description="The shadow or canary served beside it (null: none)."
    )


class ModelList(BaseModel):
    """GET /v1/models: every model this service serves."""

    request_id: str
    models: list[ModelSummary]


def _json_adapters(fields: dict[str, tuple[Any, Any]], max_batch: int) -> dict[str, TypeAdapter]:
    record = TypedDict(  # type: ignore[misc]
        "FeaturesRecord", {name: Annotated[kind, info] for name, (kind, info) in fields.items()}
    )
    record.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]

    class BatchRecords(TypedDict):
        __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
        records: Annotated[list[record], Field(min_length=1, max_length=max_batch)]  # type: ignore[valid-type]

    return {"record_json": TypeAdapter(record), "batch_json": TypeAdapter(BatchRecords)}
