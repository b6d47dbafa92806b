"""The request models generated from the schema: types as strict as the OpenAPI document
says, on the one-pass path (bytes) and the detailed path (models) alike."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from prediction_service.schemas import build_models


@pytest.fixture(scope="module")
def models(schema):
    return build_models(schema, max_batch=10)


@pytest.fixture(scope="module")
def record(records):
    return dict(records[0])


def _rules(models, body: dict) -> dict[str, list[str]]:
    """{path: rules} of the one-pass validator and of the detailed model; {} when valid."""
    out = {}
    try:
        models.record_json.validate_json(json.dumps(body))
    except ValidationError as exc:
        out["one-pass"] = [e["type"] for e in exc.errors()]
    try:
        models.features.model_validate(body)
    except ValidationError as exc:
        out["detailed"] = [e["type"] for e in exc.errors()]
    return out


def test_a_boolean_is_not_a_number(models, schema, record):
    numeric = [c for c in schema.features if c.dtype in ("int", "float")]
    assert {c.dtype for c in numeric} == {"int", "float"}
    for column in numeric:
        for value in (False, True):
            rules = _rules(models, {**record, column.name: value})
            expected = "int_type" if column.dtype == "int" else "float_type"
            assert rules == {"one-pass": [expected], "detailed": [expected]}, column.name


def test_a_numeric_string_is_not_a_number(models, schema, record):
    for column in schema.features:
        if column.dtype in ("int", "float"):
            value = str(int(column.min or 0) + 1)
            rules = _rules(models, {**record, column.name: value})
            assert set(rules) == {"one-pass", "detailed"}, column.name
            assert all(r[0].endswith("_type") for r in rules.values()), rules


def test_whole_numbers_are_integers_as_json_schema_counts_them(models, schema, record):
    column = next(c for c in schema.features if c.dtype == "int")
    value = int(column.min or 0) + 1
    for sent in (value, float(value)):
        body = {**record, column.name: sent}
        assert _rules(models, body) == {}
        got = models.record_json.validate_json(json.dumps(body))[column.name]
        assert got == value and type(got) is int
        assert type(models.features.model_validate(body).__dict__[column.name]) is int
    rules = _rules(models, {**record, column.name: value + 0.5})
    assert rules == {"one-pass": ["int_from_float"], "detailed": ["int_from_float"]}


def test_an_integer_is_a_number(models, schema, record):
    column = next(c for c in schema.features if c.dtype == "float")
    assert _rules(models, {**record, column.name: int(column.min) + 1}) == {}


def test_integer_ranges_hold(models, schema, record):
    column = next(c for c in schema.features if c.dtype == "int" and c.max is not None)
    assert _rules(models, {**record, column.name: int(column.max)}) == {}
    rules = _rules(models, {**record, column.name: int(column.max) + 1})
    assert rules == {"one-pass": ["less_than_equal"], "detailed": ["less_than_equal"]}


def test_the_document_says_integer_and_number(models, schema):
    props = models.features.model_json_schema()["properties"]
    for column in schema.features:
        if column.dtype == "int":
            assert props[column.name]["type"] == "integer"
            assert props[column.name]["minimum"] == column.min
        elif column.dtype == "float":
            assert props[column.name]["type"] == "number"


def test_a_boolean_label_is_refused(models):
    with pytest.raises(ValidationError, match="label"):
        models.feedback_request.model_validate({"request_id": "x", "label": True})
