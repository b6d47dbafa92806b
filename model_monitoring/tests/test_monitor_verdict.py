"""The policy's verdict from drift readings and performance (no Evidently run needed)."""

from __future__ import annotations

from mlops_core.contracts.monitor import ColumnDrift, Performance
from model_monitoring.policy import Policy
from model_monitoring.readings import DriftReading
from model_monitoring.verdict import judge


def _reading(drifted: list[str], share_failed: bool, prediction: bool = False) -> DriftReading:
    columns = {c: ColumnDrift(score=0.5, drifted=c in drifted) for c in ("a", "b", "c", "d")}
    return DriftReading(
        columns=columns,
        prediction=ColumnDrift(score=0.3, drifted=prediction),
        drift_share=len(drifted) / 4,
        share_threshold=0.5,
        share_test_failed=share_failed,
    )


def _performance(degraded: bool) -> Performance:
    return Performance(rmse=2.0, mae=1.0, mean_error=0.0, r2=0.5, labelled_rows=50,
                       metric="rmse", baseline=1.0, limit=1.25, degraded=degraded)  # fmt: skip


def test_nothing_found_is_no_drift_with_the_counts_in_the_message():
    v = judge(_reading(["a"], False), _performance(False), Policy(), 4)
    assert (v.status, v.data_drift, v.degraded, v.retrain_advised) == (
        "no_drift", False, False, False
    )  # fmt: skip
    assert v.reasons == [] and v.message.startswith("no drift: 1 of 4 feature columns")


def test_the_share_test_decides_data_drift():
    v = judge(_reading(["a", "b"], True), None, Policy(), 4)
    assert v.status == "drift" and v.data_drift and v.retrain_advised
    assert v.reasons == ["data drift: 2 of 4 feature columns drifted (share 0.50 >= 0.50)"]


def test_a_critical_column_flags_drift_on_its_own():
    policy = Policy(drift={"critical_columns": ["c"]})
    assert judge(_reading(["c"], False), None, policy, 4).data_drift
    assert not judge(_reading(["a"], False), None, policy, 4).data_drift


def test_prediction_drift_decides_only_when_the_policy_says_so():
    assert judge(_reading([], False, prediction=True), None, Policy(), 4).status == "no_drift"
    flags = Policy(drift={"prediction_drift_flags": True})
    v = judge(_reading([], False, prediction=True), None, flags, 4)
    assert v.status == "drift" and v.reasons == ["prediction drift (score 0.300)"]


def test_degradation_and_what_retraining_is_advised_on():
    v = judge(_reading([], False), _performance(True), Policy(), 4)
    assert v.status == "drift" and v.degraded and not v.data_drift and v.retrain_advised
    assert v.reasons == ["degradation: rmse 2 > limit 1.25 (test 1 + 25%)"]
    only_drift = Policy(retrain_on=["drift"])
    assert judge(_reading([], False), _performance(True), only_drift, 4).retrain_advised is False
