"""Drift read through Evidently's typed results agrees with Evidently's own JSON view of the
same snapshot (`Snapshot.dict()`), column by column."""

from __future__ import annotations

from monitor_helpers import make_frames, reversed_mix

from mlops_core.synthetic import Drift
from model_monitoring.analysis import prediction_column
from model_monitoring.evidently_run import run_report
from model_monitoring.policy import Policy
from model_monitoring.readings import read_drift


def test_typed_readings_match_evidentlys_json(schema):
    numeric, category = schema.numeric_features[0], schema.categorical_features[0]
    drift = Drift(shift={numeric: 1.5}, category_weights={category: reversed_mix(schema, category)})
    reference, current = make_frames(schema, rows_ref=1500, rows_cur=1200, drift=drift)
    pred = prediction_column(schema)
    columns = [c for c in schema.feature_names if c != schema.feature_names[-1]]
    policy = Policy(drift={"share": 0.1, "columns": {numeric: {"threshold": 0.2}}})
    run = run_report(reference, current, schema, policy, columns, pred, None, limit=None)
    reading = read_drift(run)

    data = run.snapshot.dict()
    by_column = {m["config"]["column"]: m for m in data["metrics"]
                 if m["metric_name"].startswith("ValueDrift(")}  # fmt: skip
    tests = {t["metric_config"]["params"].get("column"): t["status"] for t in data["tests"]
             if t["metric_config"]["params"]["type"].endswith("ValueDrift")}  # fmt: skip
    assert set(reading.columns) == set(columns) and set(by_column) == {*columns, pred}
    for name, info in [*reading.columns.items(), (pred, reading.prediction)]:
        assert info.score == by_column[name]["value"], name
        assert info.method == by_column[name]["config"]["method"], name
        assert info.threshold == by_column[name]["config"]["threshold"], name
        assert info.test_status == str(tests[name]).rsplit(".", 1)[-1], name
    assert reading.columns[numeric].threshold == 0.2  # the policy's per-column threshold
    assert reading.drifted_columns == sorted([numeric, category])
    (count,) = [m for m in data["metrics"] if m["metric_name"].startswith("DriftedColumnsCount")]
    assert reading.drift_share == count["value"]["share"] == 2 / len(columns)
    assert reading.share_threshold == 0.1 and reading.share_test_failed is True
