"""Behavioural tests of the trained model (in the spirit of Made With ML): directional
expectations, invariance to unseen categories, sane outputs. Columns come from the schema."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model_training.core import train, xy


@pytest.fixture(scope="module")
def model(schema, frames, fast_config):
    return train(frames, schema, fast_config).pipeline


def positive_size_feature(schema) -> str:
    """The first numeric feature whose synthetic coefficient on the label is positive."""
    terms = schema.synthetic["label"]["terms"]
    for name in schema.numeric_features:
        if float(terms.get(name, {}).get("coefficient", 0.0)) > 0:
            return name
    raise AssertionError("the schema has no numeric feature with a positive coefficient")


def test_more_of_a_positive_feature_never_lowers_the_prediction(model, schema, frames):
    feature = positive_size_feature(schema)
    rows, _ = xy(frames["test"].head(200), schema)
    low_value, high_value = frames["train"][feature].quantile([0.1, 0.9])
    low, high = rows.copy(), rows.copy()
    low[feature] = low_value
    high[feature] = high_value
    gap = model.predict(high) - model.predict(low)
    assert (gap >= 0).all(), f"{(gap < 0).sum()} rows got a lower prediction with more {feature}"
    assert gap.mean() > 0


def test_unseen_categories_are_all_treated_alike(model, schema, frames):
    rows, _ = xy(frames["test"].head(20), schema)
    strange, stranger = rows.copy(), rows.copy()
    for column in schema.categorical_features:
        strange[column] = "never-seen-before"
        stranger[column] = "also-unknown"
    predicted = model.predict(strange)
    assert np.isfinite(predicted).all()
    # Every unknown value is ignored the same way: no category is made up for it.
    np.testing.assert_array_equal(predicted, model.predict(stranger))
    assert not np.array_equal(predicted, model.predict(rows))


def test_predictions_stay_in_the_range_of_the_labels_and_finite_at_the_schema_bounds(
    model, schema, frames
):
    # (Positivity alone proves nothing under a log target: exp() is always positive.)
    label = frames["train"][schema.label.name]
    low, high = label.min(), label.max()
    rows, y = xy(frames["test"], schema)
    predicted = model.predict(rows)
    assert np.isfinite(predicted).all()
    assert (predicted >= low / 2).all() and (predicted <= high * 2).all()
    assert 0.8 < np.median(predicted) / np.median(y) < 1.25
    extremes = []
    for bound in ("min", "max"):
        row = rows.iloc[0].copy()
        for name in schema.numeric_features:
            value = getattr(schema.column(name), bound)
            if value is not None:
                row[name] = value
        extremes.append(row)
    # The schema's bounds lie far outside the training rows (a log-linear model predicts
    # there what its formula says): no overflow to inf, no NaN.
    assert np.isfinite(model.predict(pd.DataFrame(extremes))).all()


def test_missing_values_are_imputed(model, schema, frames):
    rows, _ = xy(frames["test"].head(10), schema)
    holes = rows.astype(object)
    holes.iloc[0, :] = None
    holes[schema.numeric_features] = holes[schema.numeric_features].astype(float)
    assert np.isfinite(model.predict(holes)).all()
