"""Cleaning (data_ingestion.clean): category spellings, duplicates, missing labels."""

from __future__ import annotations

from data_ingestion.clean import normalise_categories
from mlops_core.synthetic import generate


def test_category_spellings_are_normalised(schema):
    column = schema.categorical_features[0]
    value = schema.column(column).categories[0]
    frame = generate(schema, 5, seed=0)
    frame[column] = [f" {value.upper()}", value, f"{value.title()}  ", "   ", None]
    out = normalise_categories(frame, schema)
    assert out[column].tolist()[:3] == [value, value, value]
    assert out[column].isna().tolist()[3:] == [True, True]
