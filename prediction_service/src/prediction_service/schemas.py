"""Request and response models generated from the dataset schema.

Nothing here names a column: every field, type, range, allowed value and description comes
from the schema file, so /docs and the OpenAPI document describe the served dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from typing_extensions import TypedDict

from mlops_core.schema import Column, DatasetSchema


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
    kind = int if column.dtype == "int" else float
    example = column.min if column.min is not None else 0
    if column.synthetic and column.synthetic.get("values"):
        example = column.synthetic["values"][0]
    elif column.min is not None and column.max is not None:
        example = column.min + (column.max - column.min) / 10
    return kind, Field(
        ...,
        description=description,
        ge=column.min,
        le=column.max,
        allow_inf_nan=False if kind is float else None,
        examples=[int(example) if kind is int else float(example)],
    )


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


def build_models(schema: DatasetSchema, max_batch: int) -> ApiModels:
    fields = {c.name: _field(c) for c in schema.features}
    features = create_model(
        "Features",
        __config__=ConfigDict(extra="forbid", title="Features"),
        __doc__=f"One record of dataset {schema.name!r}: {schema.description}",
        **fields,
    )
    batch_request = create_model(
        "BatchRequest",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"Up to {max_batch} records to predict in one call.",
        records=(list[features], Field(..., min_length=1, max_length=max_batch)),
    )
    label = schema.label

    class Meta(BaseModel):
        request_id: str = Field(description="Id of this request (also the X-Request-ID header).")
        model_name: str
        model_version: str = Field(description="Model version that answered.")

    predict_response = create_model(
        "PredictResponse",
        __base__=Meta,
        prediction=(float, Field(description=f"Predicted {label.name}: {label.description}")),
    )
    batch_response = create_model(
        "BatchPredictResponse",
        __base__=Meta,
        request_ids=(list[str], Field(description="One id per record, in order.")),
        predictions=(list[float], Field(description=f"Predicted {label.name}, in order.")),
    )
    feedback_request = create_model(
        "FeedbackRequest",
        __config__=ConfigDict(extra="forbid"),
        request_id=(str, Field(min_length=1, max_length=64)),
        label=(
            float,
            Field(
                description=f"True {label.name} for that prediction.",
                ge=label.min,
                le=label.max,
                allow_inf_nan=False,
            ),
        ),
    )

    class FeedbackResponse(BaseModel):
        request_id: str
        accepted: bool
        model_name: str
        model_version: str

    class ModelInfo(BaseModel):
        request_id: str
        model_name: str
        model_version: str
        model_uri: str
        alias: str | None = None
        run_id: str | None = None
        data_version: str | None = None
        metrics: dict[str, float] = {}
        flavor: str
        loaded_at: float
        features: list[str]
        label: str

    return ApiModels(
        features=features,
        batch_request=batch_request,
        predict_response=predict_response,
        batch_response=batch_response,
        feedback_request=feedback_request,
        feedback_response=FeedbackResponse,
        model_info=ModelInfo,
        features_list=TypeAdapter(list[features]),
        **_json_adapters(fields, max_batch),
    )


def _json_adapters(fields: dict[str, tuple[Any, Any]], max_batch: int) -> dict[str, TypeAdapter]:
    record = TypedDict(  # type: ignore[misc]
        "FeaturesRecord", {name: Annotated[kind, info] for name, (kind, info) in fields.items()}
    )
    record.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]

    class BatchRecords(TypedDict):
        __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]
        records: Annotated[list[record], Field(min_length=1, max_length=max_batch)]  # type: ignore[valid-type]

    return {"record_json": TypeAdapter(record), "batch_json": TypeAdapter(BatchRecords)}
