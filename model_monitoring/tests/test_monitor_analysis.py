"""The monitoring core on synthetic frames: drift per column, degradation, insufficient data,
policy exceptions and the sampled path's error bound."""

from __future__ import annotations

import pytest
from monitor_helpers import baseline, make_frames, reversed_mix

from mlops_core.errors import BadInput
from mlops_core.synthetic import Drift
from model_monitoring.analysis import analyse
from model_monitoring.policy import Policy, load_policy


@pytest.mark.slow
def test_same_distribution_is_not_drift(schema):
    reference, current = make_frames(schema)
    result = analyse(
        reference, current, schema, load_policy(), baseline_metrics=baseline(schema, reference)
    )
    assert result.status == "no_drift", result.message
    assert result.drifted_columns == []
    assert result.data_drift is False and result.degraded is False
    assert result.retrain_advised is False
    assert set(result.columns) == set(schema.feature_names)
    assert result.drift_share == 0.0
    assert result.performance is not None and result.performance.labelled_rows == len(current)
    # Distances above 1 000 rows (Evidently's row-count rule).
    methods = {c.method for c in result.columns.values()}
    assert methods <= {"Wasserstein distance (normed)", "Jensen-Shannon distance"}


def test_shifted_numeric_and_category_mix_flag_exactly_those_columns(schema):
    numeric = schema.numeric_features[0]
    category = schema.categorical_features[0]
    drift = Drift(shift={numeric: 1.4}, category_weights={category: reversed_mix(schema, category)})
    reference, current = make_frames(schema, drift=drift)
    # No labels in the window: drift alone decides.
    current[schema.label.name] = float("nan")
    result = analyse(
        reference, current, schema, load_policy(), baseline_metrics=baseline(schema, reference)
    )
    assert result.drifted_columns == sorted([numeric, category])
    assert result.status == "drift" and result.data_drift
    assert result.retrain_advised
    assert result.performance is None and result.labelled_rows == 0
    assert result.drift_share == pytest.approx(2 / len(schema.feature_names))
    for name, info in result.columns.items():
        assert info.drifted == (name in (numeric, category)), (name, info)
        assert info.test_status == ("FAIL" if info.drifted else "SUCCESS")


def test_small_windows_use_p_value_tests(schema):
    numeric = schema.numeric_features[0]
    reference, current = make_frames(
        schema, rows_ref=600, rows_cur=400, drift=Drift(shift={numeric: 1.5})
    )
    result = analyse(reference, current, schema, load_policy())
    assert numeric in result.drifted_columns
    # Up to 1 000 rows Evidently tests p-values (K-S for a continuous column) at 0.05.
    assert result.columns[numeric].method == "K-S p_value"
    for name, info in result.columns.items():
        assert info.method.endswith("p_value") and info.threshold == 0.05, (name, info)
        assert info.drifted == (info.score < 0.05), (name, info)


def test_labels_worse_than_test_metrics_flag_degradation(schema):
    reference, current = make_frames(schema)
    label = schema.label.name
    # Ground truth far from what the model predicted: the same features, other prices.
    current[label] = current[label] * 1.5
    current.loc[current.index[::4], label] = float("nan")  # feedback for 3 rows in 4
    result = analyse(
        reference, current, schema, load_policy(), baseline_metrics=baseline(schema, reference)
    )
    assert result.degraded and result.status == "drift"
    assert result.drifted_columns == []
    perf = result.performance
    assert perf.labelled_rows == len(current) - len(current.index[::4])
    assert perf.rmse > perf.limit > perf.baseline
    assert any(r.startswith("degradation") for r in result.reasons)
    assert result.retrain_advised
    # Evidently's own RMSE test carries the same limit into the report.
    rmse_tests = [t for t in result.snapshot.dict()["tests"] if t["name"].startswith("RMSE")]
    assert rmse_tests and str(rmse_tests[0]["status"]).endswith("FAIL")


def test_too_few_rows_is_insufficient_data(schema):
    reference, current = make_frames(schema, rows_cur=50)
    result = analyse(reference, current, schema, load_policy())
    assert result.status == "insufficient_data"
    assert result.snapshot is None
    assert "50 current row(s)" in result.message


@pytest.mark.slow
def test_policy_exceptions_ignore_and_critical_columns(schema):
    shifted = schema.numeric_features[0]
    reference, current = make_frames(schema, drift=Drift(shift={shifted: 1.4}))
    ignore = Policy(drift={"columns": {shifted: {"ignore": True}}})
    result = analyse(reference, current, schema, ignore)
    assert shifted not in result.columns and result.ignored_columns == [shifted]
    assert result.drifted_columns == [] and result.status == "no_drift"

    critical = Policy(drift={"share": 0.9, "critical_columns": [shifted]})
    result = analyse(reference, current, schema, critical)
    assert result.drifted_columns == [shifted]
    assert result.status == "drift" and any("critical" in r for r in result.reasons)

    with pytest.raises(BadInput, match="not features of schema"):
        analyse(reference, current, schema, Policy(drift={"columns": {"nope": {"ignore": True}}}))


@pytest.mark.slow
def test_sampled_scores_stay_within_the_reported_error_bound(schema):
    numeric = schema.numeric_features[0]
    reference, current = make_frames(
        schema, rows_ref=8000, rows_cur=8000, drift=Drift(shift={numeric: 1.1})
    )
    exact = analyse(reference, current, schema, load_policy(), sample_rows=0)
    sampled = analyse(reference, current, schema, load_policy(), sample_rows=2000, seed=3)
    assert not exact.sampled and sampled.sampled
    assert sampled.rows == 8000 and sampled.rows_compared == 2000
    for name, info in sampled.columns.items():
        bound = info.sampling_error
        assert bound > 0 and exact.columns[name].sampling_error == 0.0
        # The bound is on the expected error; allow 3x for a single draw.
        assert abs(info.score - exact.columns[name].score) <= 3 * bound, (name, info)
