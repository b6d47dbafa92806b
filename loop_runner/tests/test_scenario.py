"""The loop's drift is named from the dataset schema and is accepted by `mlops ingest`."""

from __future__ import annotations

import pandas as pd

from loop_runner.scenario import client_records, drift_for, ingest_drift_args
from mlops_core.settings import get_settings


def test_the_drift_shifts_what_it_names_and_ingest_accepts_it(mlops, mlops_home):
    schema = get_settings().load_schema("house-price")
    drift = drift_for(schema, 1.6)
    assert list(drift["shift"]) == schema.numeric_features[:2]
    [(column, mix)] = drift["category_weights"].items()
    assert column == schema.categorical_features[0]
    assert abs(sum(mix.values()) - 1.0) < 1e-9

    plain, labels = client_records(schema, 400, seed=5)
    shifted, _ = client_records(schema, 400, seed=5, drift=drift)
    assert len(plain) == len(labels) == 400 and set(plain[0]) == set(schema.feature_names)
    name = schema.numeric_features[0]
    ratio = pd.DataFrame(shifted)[name].mean() / pd.DataFrame(plain)[name].mean()
    assert ratio > 1.3, ratio

    result = mlops(
        "ingest", "--synthetic", "300", "--seed", "3", *ingest_drift_args(drift), "--json"
    )
    assert result.exit_code == 0, result.stderr
