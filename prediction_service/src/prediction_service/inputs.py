"""Request bodies: the one-pass path (bytes validated straight into plain dicts) and the
detailed path (size limits, JSON errors, normalised category spellings, errors naming the
field). A body the one-pass path refuses is never refused for that alone: the detailed
path decides, so both accept and refuse the same bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import Request
from pydantic import ValidationError

from mlops_core.schema import DatasetSchema, normalise_category
from prediction_service.errors import ApiError, invalid_input, item
from prediction_service.schemas import ApiModels


class Inputs:
    def __init__(self, schema: DatasetSchema, models: ApiModels, max_batch: int) -> None:
        self.models = models
        self.max_batch = max_batch
        self.max_body = max(1_000_000, max_batch * 4096)
        self.category_values = [
            (c.name, frozenset(c.categories or ())) for c in schema.features if c.categories
        ]
        self._validate_one = models.features.__pydantic_validator__.validate_python
        self._validate_many = models.features_list.validate_python
        self.record_json = models.record_json.validate_json
        self._batch_json = models.batch_json.validate_json
        self.classes = tuple(schema.classes) if schema.is_classification else None
        self.label = schema.label.name

    # -- the one-pass path -----------------------------------------------------------------
    async def _fast(self, request: Request, validate: Callable[[bytes], Any]) -> Any:
        """The body validated in one pass, or None: then the caller takes the detailed path."""
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > self.max_body:
            return None
        try:
            return validate(await request.body())
        except ValidationError:
            return None

    # -- the detailed path -----------------------------------------------------------------
    async def json(self, request: Request) -> Any:
        """The body parsed as JSON; 413 above the size limit, 400 when it is not JSON."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise ApiError(413, f"request body of {length} bytes is larger than {self.max_body}")
        body = await request.body()
        if len(body) > self.max_body:
            raise ApiError(413, f"request body of {len(body)} bytes is larger than {self.max_body}")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ApiError(
                400,
                f"malformed JSON body: {exc}",
                [item(None, ["body"], "json_invalid", str(exc))],
            ) from exc

    def normalise(self, record: Any) -> None:
        if isinstance(record, dict):
            for name, allowed in self.category_values:
                value = record.get(name)
                if isinstance(value, str) and value not in allowed:
                    record[name] = normalise_category(value)

    # -- bodies ----------------------------------------------------------------------------
    async def record(self, request: Request) -> dict:
        """The body of /v1/predict: one record."""
        record = await self._fast(request, self.record_json)
        if record is not None:
            return record
        obj = await self.json(request)
        if not isinstance(obj, dict):
            raise ApiError(
                422,
                "invalid input: the body must be a JSON object of feature values",
                [item(None, ["body"], "dict_type", "not an object")],
            )
        self.normalise(obj)
        try:
            return self._validate_one(obj).__dict__
        except ValidationError as exc:
            raise invalid_input(exc, ["body"]) from None

    async def batch(self, request: Request) -> list[dict]:
        """The records of /v1/predict/batch."""
        fast = await self._fast(request, self._batch_json)
        if fast is not None:
            return fast["records"]
        obj = await self.json(request)
        records = obj.get("records") if isinstance(obj, dict) else None
        if not isinstance(records, list):
            raise ApiError(
                422,
                "invalid input: field 'records': expected a list of records",
                [item("records", ["body", "records"], "list_type", "Input should be a valid list")],
            )
        extra = sorted(set(obj) - {"records"})
        if extra:
            raise ApiError(
                422,
                f"invalid input: {'fields' if len(extra) > 1 else 'field'} "
                f"{', '.join(map(repr, extra))}: extra inputs are not permitted",
                [
                    item(e, ["body", e], "extra_forbidden", "Extra inputs are not permitted")
                    for e in extra
                ],
            )
        if len(records) > self.max_batch:
            raise ApiError(
                413,
                f"batch of {len(records)} records is larger than the maximum "
                f"{self.max_batch} (MLOPS_SERVE_MAX_BATCH)",
            )
        if not records:
            raise ApiError(
                422,
                "invalid input: field 'records': at least one record is needed",
                [
                    item(
                        "records",
                        ["body", "records"],
                        "too_short",
                        "List should have at least 1 item",
                    )
                ],
            )
        for r in records:
            self.normalise(r)
        try:
            return [m.__dict__ for m in self._validate_many(records)]
        except ValidationError as exc:
            raise invalid_input(exc, ["body", "records"], batch=True) from None

    async def feedback(self, request: Request):
        """The body of /v1/feedback: a classifier's label is one of its classes (spelling
        normalised), a 422 naming the value and the classes otherwise."""
        obj = await self.json(request)
        if self.classes is not None and isinstance(obj, dict) and "label" in obj:
            value = obj["label"]
            spelled = normalise_category(value) if isinstance(value, str) else None
            if spelled not in self.classes:
                allowed = ", ".join(self.classes)
                raise ApiError(
                    422,
                    f"invalid input: field 'label': {value!r} is not a class of "
                    f"{self.label!r} (allowed: {allowed})",
                    [
                        item(
                            "label",
                            ["body", "label"],
                            "literal_error",
                            f"Input should be one of: {allowed}",
                        )
                    ],
                )
            obj["label"] = spelled
        try:
            return self.models.feedback_request.model_validate(obj)
        except ValidationError as exc:
            raise invalid_input(exc, ["body"]) from None
