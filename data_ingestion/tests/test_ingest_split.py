"""The split (data_ingestion.split): stratified, seeded, every row once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_ingestion.split import SplitOptions, stratified_split
from mlops_core.errors import BadInput, DataQualityError
from mlops_core.synthetic import generate


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
    try:
        parts = stratified_split(frame, "y", options)
    except DataQualityError as exc:
        # Refused only when val and test (a row each at least) leave no training row:
        # e.g. 4 rows with 37.5% each to val and test. Beyond 2 rows' worth, never.
        assert f"{n} valid rows are too few" in str(exc)
        assert n * (1 - val - test) < 2, (n, val, test)
        return
    ids = np.concatenate([p["i"].to_numpy() for p in parts.values()])
    assert sorted(ids) == list(range(n))
    assert all(len(p) >= 1 for p in parts.values())
    # Each stratum rounds its share, so the test split is off by at most a row per stratum.
    assert abs(len(parts["test"]) - test * n) <= strata + 1
    assert abs(len(parts["val"]) - val * n) <= strata + 1


def test_too_few_rows_to_split():
    frame = pd.DataFrame({"y": [1.0, 2.0]})
    with pytest.raises(DataQualityError, match="2 valid rows are too few"):
        stratified_split(frame, "y", SplitOptions())


def test_bad_split_options():
    with pytest.raises(BadInput, match="leave no training rows"):
        SplitOptions(val_fraction=0.5, test_fraction=0.5).check()
    with pytest.raises(BadInput, match="test fraction must be in"):
        SplitOptions(test_fraction=0).check()


@pytest.mark.parametrize("model", ["house-price", "churn"])
def test_the_split_is_independent_of_rows_generated_with_the_same_seed(model):
    """`mlops ingest --synthetic N --seed S` generates and splits with one seed: the split's
    random order must not be the generator's draws (it once split churn by tenure)."""
    from pathlib import Path

    from mlops_core.schema import load_schema

    schema = load_schema(Path(__file__).resolve().parents[2] / "models" / model / "schema.yaml")
    seed = 43
    frame = generate(schema, 5000, seed=seed)
    classes = schema.classes if schema.is_classification else None
    parts = stratified_split(frame, schema.label.name, SplitOptions(seed=seed), classes=classes)
    for column in schema.numeric_features:
        overall, spread = frame[column].mean(), frame[column].std()
        for name, part in parts.items():
            # 750 rows: the mean of a random sample sits within ~4 standard errors.
            bound = 4 * spread / np.sqrt(len(part))
            assert abs(part[column].mean() - overall) <= bound, (column, name)
