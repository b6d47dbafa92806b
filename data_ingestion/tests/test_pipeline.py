"""The pipeline's steps in isolation: cleaning, validation reasons, imputation, the split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_ingestion.pipeline import (
    REASON_COLUMN,
    ROW_COLUMN,
    SplitOptions,
    clean,
    fit_imputation,
    normalise_categories,
    stratified_split,
)
from mlops_core.errors import BadInput, DataQualityError
from mlops_core.synthetic import generate


def test_category_spellings_are_normalised(schema):
    column = schema.categorical_features[0]
    value = schema.column(column).categories[0]
    frame = generate(schema, 5, seed=0)
    frame[column] = [f" {value.upper()}", value, f"{value.title()}  ", "   ", None]
    out = normalise_categories(frame, schema)
    assert out[column].tolist()[:3] == [value, value, value]
    assert out[column].isna().tolist()[3:] == [True, True]


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


def test_mode_ties_are_broken_alphabetically(schema):
    category = schema.column(schema.categorical_features[-1])
    a, b = sorted(category.categories)[:2]
    frame = generate(schema, 4, seed=0)
    frame[category.name] = [b, a, b, a]
    assert fit_imputation(frame, schema)[category.name] == a


def test_a_column_with_no_value_fails(schema):
    frame = generate(schema, 50, seed=0)
    frame[schema.numeric_features[0]] = np.nan
    with pytest.raises(DataQualityError, match="no valid value to impute"):
        clean(frame, schema, shown="t", max_invalid_fraction=0.05)


def test_split_is_stratified_and_seeded(schema):
    frame = generate(schema, 10_000, seed=3)
    label = schema.label.name
    options = SplitOptions(val_fraction=0.2, test_fraction=0.1, seed=7, strata=10)
    parts = stratified_split(frame, label, options)
    assert {k: len(v) for k, v in parts.items()} == {"train": 7000, "val": 2000, "test": 1000}
    edges = frame[label].quantile(np.linspace(0, 1, 11)).to_numpy()
    for name, fraction in (("train", 0.7), ("val", 0.2), ("test", 0.1)):
        counts = np.histogram(parts[name][label], bins=edges)[0]
        assert np.abs(counts - fraction * 1000).max() <= 2, (name, counts)
    again = stratified_split(frame, label, options)
    assert all(parts[k].equals(again[k]) for k in parts)
    other = stratified_split(frame, label, SplitOptions(0.2, 0.1, seed=8, strata=10))
    assert not parts["test"].equals(other["test"])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=3, max_value=400),
    val=st.floats(min_value=0.01, max_value=0.45),
    test=st.floats(min_value=0.01, max_value=0.45),
    strata=st.integers(min_value=1, max_value=50),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_split_partitions_every_row_once(n, val, test, strata, seed):
    frame = pd.DataFrame({"y": np.random.default_rng(seed).normal(size=n), "i": np.arange(n)})
    options = SplitOptions(val, test, seed, strata)
    if n - max(1, round(test * n)) - max(1, round(val * n)) < 1:
        # No row would be left to train on (e.g. 4 rows, 37.5% each to val and test).
        with pytest.raises(DataQualityError, match=f"{n} valid rows are too few"):
            stratified_split(frame, "y", options)
        return
    parts = stratified_split(frame, "y", options)
    ids = np.concatenate([p["i"].to_numpy() for p in parts.values()])
    assert sorted(ids) == list(range(n))
    assert all(len(p) >= 1 for p in parts.values())
    assert abs(len(parts["test"]) - max(1, round(test * n))) <= strata


def test_too_few_rows_to_split():
    frame = pd.DataFrame({"y": [1.0, 2.0]})
    with pytest.raises(DataQualityError, match="2 valid rows are too few"):
        stratified_split(frame, "y", SplitOptions())


def test_bad_split_options():
    with pytest.raises(BadInput, match="leave no training rows"):
        SplitOptions(val_fraction=0.5, test_fraction=0.5).check()
    with pytest.raises(BadInput, match="test fraction must be in"):
        SplitOptions(test_fraction=0).check()
