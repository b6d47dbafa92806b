"""Imputation (data_ingestion.impute): median and mode, fitted on valid rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_ingestion.clean import normalise_categories
from data_ingestion.impute import finalise, fit_imputation
from mlops_core.errors import DataQualityError
from mlops_core.synthetic import generate


def test_mode_ties_are_broken_alphabetically(schema):
    category = schema.column(schema.categorical_features[-1])
    a, b = sorted(category.categories)[:2]
    frame = generate(schema, 4, seed=0)
    frame[category.name] = [b, a, b, a]
    assert fit_imputation(frame, schema)[category.name] == a


def test_medians_of_valid_values_rounded_in_int_columns(schema):
    number = next(c.name for c in schema.features if c.dtype == "float")
    integer = next(c.name for c in schema.features if c.dtype == "int")
    frame = generate(schema, 4, seed=0).astype({integer: "float64"})
    frame[number] = [100.0, 300.0, np.nan, 1000.0]
    frame[integer] = [1.0, 2.0, 3.0, 6.0]  # median 2.5: rounded half to even, 2
    values = fit_imputation(frame, schema)
    assert values[number] == 300.0
    assert values[integer] == 2 and isinstance(values[integer], int)


def test_finalise_fills_and_casts(schema):
    integer = next(c.name for c in schema.features if c.dtype == "int")
    category = schema.column(schema.categorical_features[0])
    frame = normalise_categories(generate(schema, 3, seed=0), schema)
    frame[integer] = [1.0, np.nan, 3.0]
    # As after normalise_categories: the categories seen, in sorted order.
    seen = sorted(category.categories)
    frame[category.name] = pd.Categorical([category.categories[0], None, None], categories=seen)
    values = {integer: 7, category.name: category.categories[1]}
    out = finalise(frame, schema, values)
    assert out[integer].tolist() == [1, 7, 3] and out[integer].dtype == np.int64
    assert out[category.name].tolist() == [category.categories[0], *[category.categories[1]] * 2]
    assert list(out[category.name].cat.categories) == list(category.categories)


def test_a_column_without_value_names_the_source_and_the_column(schema):
    number = schema.numeric_features[0]
    frame = generate(schema, 3, seed=0)
    frame[number] = np.nan
    with pytest.raises(DataQualityError) as failed:
        fit_imputation(frame, schema, shown="f.csv")
    assert failed.value.message == (
        f"source f.csv: column {number!r} has no valid value to impute missing ones from "
        "(empty in all 3 valid rows)"
    )
