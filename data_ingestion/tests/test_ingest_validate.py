"""Validation (data_ingestion.validate): columns, types, categories and ranges, with a reason
per row that names the column and the value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_ingestion.clean import normalise_categories
from data_ingestion.validate import coerce_types, combine_reasons, select_columns, validate
from mlops_core.errors import BadInput, DataQualityError
from mlops_core.synthetic import generate


def test_select_columns_keeps_the_schema_order_and_names_extra_columns(schema):
    frame = generate(schema, 3, seed=0)
    shuffled = frame[list(reversed(frame.columns))].assign(note="x")
    selected, extra = select_columns(shuffled, schema, "f.csv")
    assert list(selected.columns) == [c.name for c in schema.columns]
    assert extra == ["note"]


def test_missing_and_foreign_columns(schema):
    frame = generate(schema, 3, seed=0)
    dropped = schema.numeric_features[0]
    with pytest.raises(DataQualityError, match=f"source f.csv: missing column {dropped} "):
        select_columns(frame.drop(columns=[dropped]), schema, "f.csv")
    with pytest.raises(BadInput, match=r"not a table of schema .* columns read: a, b"):
        select_columns(pd.DataFrame({"a": [1], "b": [2]}), schema, "f.csv")


def test_duplicated_columns_are_refused(schema):
    frame = generate(schema, 3, seed=0)
    column = schema.numeric_features[0]
    twice = pd.concat([frame, frame[[column]]], axis=1)
    with pytest.raises(BadInput, match=f"source f.parquet: duplicated column names {column}$"):
        select_columns(twice, schema, "f.parquet")
    renamed = frame.assign(**{f"{column}.1": frame[column]})  # how pandas reads a CSV's copy
    with pytest.raises(BadInput, match=rf"names {column} \(read as {column}, {column}\.1\)"):
        select_columns(renamed, schema, "f.csv")


def test_a_table_without_rows_is_refused(schema):
    empty = generate(schema, 3, seed=0).iloc[:0]
    with pytest.raises(BadInput, match=r"^source f\.csv: the table has no rows$"):
        select_columns(empty, schema, "f.csv")


def test_type_reasons_name_the_value_and_the_expected_type(schema):
    number = next(c.name for c in schema.features if c.dtype == "float")
    integer = next(c.name for c in schema.features if c.dtype == "int")
    frame = generate(schema, 4, seed=0).astype({number: object, integer: object})
    frame[number] = ["1.5", "abc", None, float("inf")]
    frame[integer] = [1, 2.5, "3", True]
    typed, parts = coerce_types(frame, schema)
    reasons = {(column, i): text for column, messages in parts for i, text in messages.items()}
    assert reasons == {
        (number, 1): f"{number}: 'abc' is not a number (float)",
        (number, 3): f"{number}: inf is not a number (float)",
        (integer, 1): f"{integer}: 2.5 is not an integer",
        (integer, 3): f"{integer}: True is not a number (int)",
    }
    assert typed[number].tolist()[0] == 1.5 and np.isnan(typed[number].tolist()[1])
    assert typed[integer].tolist()[:3][::2] == [1.0, 3.0]
    assert typed[number].dtype == typed[integer].dtype == np.float64


def test_range_and_category_reasons(schema):
    numeric = schema.column(schema.numeric_features[0])
    category = schema.column(schema.categorical_features[0])
    frame = generate(schema, 5, seed=0).astype({category.name: object})
    frame.loc[1, numeric.name] = numeric.max + 1
    frame.loc[2, numeric.name] = numeric.min - 1
    frame.loc[3, category.name] = "Maybe"
    frame.loc[4, numeric.name] = np.nan  # missing passes: it is imputed later
    typed, _ = coerce_types(normalise_categories(frame, schema), schema)
    parts = dict(validate(typed, schema))
    allowed = ", ".join(category.categories)
    assert parts[numeric.name].to_dict() == {
        1: f"{numeric.name}: {numeric.max + 1!r} out of range [{numeric.min:g}, {numeric.max:g}]",
        2: f"{numeric.name}: {numeric.min - 1!r} out of range [{numeric.min:g}, {numeric.max:g}]",
    }
    assert parts[category.name].to_dict() == {3: f"{category.name}: 'maybe' not one of {allowed}"}
    assert set(parts) == {numeric.name, category.name}


def test_a_valid_table_has_no_reasons(schema):
    typed, parts = coerce_types(normalise_categories(generate(schema, 50, seed=0), schema), schema)
    assert parts == [] and validate(typed, schema) == []


def test_combine_reasons_joins_per_row_in_row_order_and_counts_per_column():
    index = pd.RangeIndex(6)
    parts = [
        ("b", pd.Series(["b: x"], index=[4])),
        ("a", pd.Series(["a: y", "a: z"], index=[4, 1])),
        ("a", pd.Series(["a: w"], index=[1])),
    ]
    reasons, counts = combine_reasons(parts, index)
    assert reasons.to_dict() == {1: "a: z; a: w", 4: "b: x; a: y"}
    assert list(reasons.index) == [1, 4]
    assert counts == {"a": 3, "b": 1}
    assert list(counts) == ["a", "b"]  # most first
