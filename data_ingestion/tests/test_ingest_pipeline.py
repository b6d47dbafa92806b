"""The cleaning steps chained (data_ingestion.pipeline.clean): reasons, imputation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_ingestion.pipeline import clean
from data_ingestion.quarantine import REASON_COLUMN, ROW_COLUMN
from mlops_core.errors import DataQualityError
from mlops_core.synthetic import generate


def test_reasons_name_row_column_and_value(schema):
    frame = generate(schema, 200, seed=1)
    numeric = schema.column(schema.numeric_features[0])
    category = schema.categorical_features[0]
    frame = frame.astype({numeric.name: object})
    frame.loc[3, numeric.name] = "n/a-ish"
    frame.loc[7, category] = "maybe"
    frame.loc[7, numeric.name] = numeric.max + 1
    cleaned = clean(frame, schema, shown="t", max_invalid_fraction=0.05)
    q = cleaned.quarantine.set_index(ROW_COLUMN)
    assert q.loc[4, REASON_COLUMN] == f"{numeric.name}: 'n/a-ish' is not a number ({numeric.dtype})"
    reason = q.loc[8, REASON_COLUMN]
    assert f"{numeric.name}: {numeric.max + 1!r} out of range" in reason
    assert f"{category}: 'maybe' not one of" in reason
    assert cleaned.rows == {
        "in": 200,
        "duplicates": 0,
        "missing_label": 0,
        "quarantined": 2,
        "out": 198,
    }
    assert cleaned.invalid_by_column == {numeric.name: 2, category: 1}


def test_imputation_uses_valid_rows_only(schema):
    numeric = schema.column(schema.numeric_features[0])
    frame = generate(schema, 101, seed=2)
    frame.loc[:49, numeric.name] = np.nan
    frame.loc[50, numeric.name] = numeric.max * 100  # invalid: must not move the median
    frame.loc[51:, numeric.name] = [1000.0, 3000.0] * 25  # median 2000 (3000 with row 50)
    cleaned = clean(frame, schema, shown="t", max_invalid_fraction=0.5)
    assert cleaned.imputation[numeric.name] == 2000.0
    assert cleaned.missing[numeric.name] == 50
    assert not cleaned.frame.isna().any().any()
    assert (cleaned.frame[numeric.name].iloc[:50] == 2000.0).all()


def test_duplicates_are_found_after_normalising_spellings(schema):
    category = schema.categorical_features[0]
    value = schema.column(category).categories[0]
    frame = generate(schema, 100, seed=4)
    frame.loc[:, category] = value
    frame = frame.astype({category: object})
    copies = frame.iloc[:10].copy()
    copies[category] = f"  {value.upper()} "
    cleaned = clean(
        pd.concat([frame, copies], ignore_index=True), schema, shown="t", max_invalid_fraction=0
    )
    assert (cleaned.rows["in"], cleaned.rows["duplicates"], cleaned.rows["out"]) == (110, 10, 100)


def test_the_threshold_counts_rows_after_duplicates_and_missing_labels(schema):
    frame = generate(schema, 100, seed=6)
    numeric = schema.column(schema.numeric_features[0])
    frame.loc[:4, numeric.name] = numeric.max * 2  # 5 invalid rows of 100: 5%
    dirty = pd.concat([frame, frame.iloc[50:60]], ignore_index=True)  # 10 duplicates
    dirty.loc[len(dirty)] = dirty.iloc[70]
    dirty.loc[len(dirty) - 1, schema.label.name] = np.nan  # a row without label
    cleaned = clean(dirty, schema, shown="t", max_invalid_fraction=0.05)
    assert cleaned.rows == {
        "in": 111,
        "duplicates": 10,
        "missing_label": 1,
        "quarantined": 5,
        "out": 95,
    }
    with pytest.raises(DataQualityError, match=r"5 of 100 rows \(5.0%\) are invalid, above"):
        clean(dirty, schema, shown="t", max_invalid_fraction=0.049)


def test_a_column_with_no_value_fails(schema):
    frame = generate(schema, 50, seed=0)
    frame[schema.numeric_features[0]] = np.nan
    with pytest.raises(DataQualityError, match="no valid value to impute"):
        clean(frame, schema, shown="t", max_invalid_fraction=0.05)
