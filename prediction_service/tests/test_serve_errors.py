"""The error envelope's messages (prediction_service.errors): the first error with its
record's index in a batch, and how many fields are wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from prediction_service.errors import invalid_input
from prediction_service.schemas import build_models


@pytest.fixture(scope="module")
def models(schema):
    return build_models(schema, max_batch=10)


def _error(validate, body, **kw):
    with pytest.raises(ValidationError) as info:
        validate(body)
    return invalid_input(info.value, ["body"] if not kw else ["body", "records"], **kw)


def test_one_wrong_field_is_named(models, records, schema):
    name = schema.numeric_features[0]
    err = _error(models.features.model_validate, {**records[0], name: -1e12})
    assert err.status == 422
    assert err.message.startswith(f"invalid input: field {name!r}: Input should be")
    assert err.detail[0]["loc"] == ["body", name]


def test_the_count_and_the_names_of_wrong_fields(models, schema):
    err = _error(models.features.model_validate, {})
    n = len(schema.features)
    assert err.message.startswith(f"invalid input: {n} fields are wrong (")
    assert f"and {n - 5} more); first: field {schema.feature_names[0]!r}: Field required" in (
        err.message
    )
    assert len(err.detail) == n


def test_a_batch_error_names_the_record(models, records, schema):
    name = schema.numeric_features[0]
    batch = [dict(r) for r in records[:5]]
    batch[3][name] = -1e12
    err = _error(models.features_list.validate_python, batch, batch=True)
    assert err.message.startswith(f"invalid input: record 3, field {name!r}: ")
    assert err.detail[0]["loc"] == ["body", "records", 3, name]


def test_a_batch_summary_counts_fields_and_records(models, records, schema):
    a, b = schema.numeric_features[:2]
    batch = [dict(r) for r in records[:9]]
    batch[1][a] = -1e12
    batch[8][a] = -1e12
    batch[8][b] = True
    err = _error(models.features_list.validate_python, batch, batch=True)
    assert err.message.startswith(
        f"invalid input: 3 fields are wrong in 2 records (records 1, 8); first: record 1, "
        f"field {a!r}: "
    )
