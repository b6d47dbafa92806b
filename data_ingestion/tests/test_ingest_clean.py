"""Cleaning (data_ingestion.clean): category spellings, duplicates, missing labels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from data_ingestion.clean import (
    drop_duplicates,
    drop_missing_label,
    normalise_categories,
    to_output,
)
from mlops_core.synthetic import generate


def test_category_spellings_are_normalised(schema):
    column = schema.categorical_features[0]
    value = schema.column(column).categories[0]
    frame = generate(schema, 5, seed=0)
    frame[column] = [f" {value.upper()}", value, f"{value.title()}  ", "   ", None]
    out = normalise_categories(frame, schema)
    assert out[column].tolist()[:3] == [value, value, value]
    assert out[column].isna().tolist()[3:] == [True, True]


def test_exact_duplicates_go_and_the_first_stays():
    frame = pd.DataFrame({"a": [1, 2, 1, 1], "b": ["x", "y", "x", "z"]})
    out, dropped = drop_duplicates(frame)
    assert dropped == 1
    assert out.index.tolist() == [0, 1, 3]


def test_rows_without_label_go(schema):
    frame = generate(schema, 6, seed=0)
    frame.loc[[1, 4], schema.label.name] = np.nan
    out, dropped = drop_missing_label(frame, schema)
    assert dropped == 2
    assert out.index.tolist() == [0, 2, 3, 5]


def test_output_has_str_categories(schema):
    out = to_output(normalise_categories(generate(schema, 5, seed=0), schema), schema)
    for name in schema.categorical_features:
        assert out[name].dtype == object
        assert all(isinstance(v, str) for v in out[name])
