"""Reading the prediction log into the current frame: schema checks and time options."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops_core.errors import BadInput, DataQualityError
from mlops_core.synthetic import generate
from model_monitoring.analysis import prediction_column
from model_monitoring.sources import log_frame, parse_time


def _rows(schema, n=5):
    frame = generate(schema, n, seed=4)
    now = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
    return [
        (f"r{i}", now, {c: frame.iloc[i][c] for c in schema.feature_names}, 1.0 * i, None)
        for i in range(n)
    ]


def test_log_rows_become_the_current_frame(schema):
    pred = prediction_column(schema)
    rows = _rows(schema)
    rows[0] = (*rows[0][:4], 42.0)
    cat = schema.categorical_features[0]
    rows[1][2][cat] = " " + rows[1][2][cat].upper()  # spelling is normalised
    frame = log_frame(rows, schema, pred)
    assert list(frame[schema.feature_names].columns) == schema.feature_names
    assert frame[schema.label.name].notna().sum() == 1
    assert frame.loc[1, cat] in schema.column(cat).categories


def test_log_columns_not_matching_the_schema_name_row_and_column(schema):
    pred = prediction_column(schema)
    rows = _rows(schema)
    missing = schema.feature_names[0]
    del rows[3][2][missing]
    rows[3][2]["colour"] = "red"
    with pytest.raises(DataQualityError, match=rf"row r3: .*missing {missing}; unexpected colour"):
        log_frame(rows, schema, pred)
    rows = _rows(schema)
    rows[2][2][schema.numeric_features[0]] = "big"
    with pytest.raises(DataQualityError, match=r"row r2: feature .* is not numeric"):
        log_frame(rows, schema, pred)


def test_empty_log_gives_an_empty_frame(schema):
    frame = log_frame([], schema, prediction_column(schema))
    assert frame.empty and set(schema.feature_names) <= set(frame.columns)


def test_parse_time():
    assert parse_time("2026-11-29T17:00Z", "--since") == datetime(2026, 11, 29, 17, tzinfo=UTC)
    assert parse_time("2026-11-29 18:00", "--since").tzinfo is UTC
    with pytest.raises(BadInput, match="--until: 'yesterday' is not an ISO-8601"):
        parse_time("yesterday", "--until")


def test_classifier_log_rows_become_class_and_probability_columns(tmp_path):
    """A classifier's row: predicted_class, probabilities ({class: p}, as JSON text from a
    driver that does not decode it) and the feedback's label_class, in the schema's
    spelling; a row without probabilities leaves them missing."""
    import json

    from registered import classifier_folder

    from mlops_core.schema import load_schema
    from model_monitoring.analysis import probability_columns

    schema = load_schema(classifier_folder(tmp_path, "clf") / "schema.yaml")
    pred, probas = prediction_column(schema), probability_columns(schema)
    now = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
    features = {"tenure": 3.0, "monthly": 50.0, "plan": "Monthly"}
    rows = [
        {"request_id": "a", "created_at": now, "features": features, "prediction": None,
         "predicted_class": "Yes", "probabilities": json.dumps({"No": 0.2, "Yes": 0.8}),
         "label": None, "label_class": "no"},
        {"request_id": "b", "created_at": now, "features": dict(features), "prediction": None,
         "predicted_class": "no", "probabilities": None, "label": None, "label_class": None},
    ]  # fmt: skip
    frame = log_frame(rows, schema, pred, probas)
    assert list(frame[pred]) == ["yes", "no"] and frame.loc[0, "churned"] == "no"
    assert frame.loc[1, "churned"] is None and frame.loc[0, "plan"] == "monthly"
    assert frame.loc[0, probas["yes"]] == 0.8 and frame.loc[0, probas["no"]] == 0.2
    assert frame[probas["yes"]].isna().tolist() == [False, True]
