"""The cleaning steps chained (data_ingestion.pipeline.clean): reasons, imputation."""

from __future__ import annotations

import numpy as np
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
    cleaned = clean(frame, schema, shown="t", max_invalid_fraction=0.5)
    expected = float(frame.loc[51:, numeric.name].median())
    assert cleaned.imputation[numeric.name] == pytest.approx(expected)
    assert cleaned.missing[numeric.name] == 50
    assert not cleaned.frame.isna().any().any()


def test_a_column_with_no_value_fails(schema):
    frame = generate(schema, 50, seed=0)
    frame[schema.numeric_features[0]] = np.nan
    with pytest.raises(DataQualityError, match="no valid value to impute"):
        clean(frame, schema, shown="t", max_invalid_fraction=0.05)
