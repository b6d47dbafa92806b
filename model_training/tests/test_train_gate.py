"""The quality gate's decision, as a pure function."""

from __future__ import annotations

from model_training.config import Bound, Gate
from model_training.gate import Champion, decide, judge, relative_worsening

GOOD = {"rmse": 100.0, "mae": 80.0, "r2": 0.8, "mape": 0.1}


def test_first_model_only_needs_the_thresholds():
    gate = Gate(thresholds={"r2": Bound(min=0.5), "mape": Bound(max=0.2)})
    decision = decide(GOOD, gate)
    assert decision.passed
    assert "no champion" in decision.reason


def test_threshold_failures_are_all_named():
    gate = Gate(thresholds={"r2": Bound(min=0.9), "mape": Bound(max=0.05)})
    decision = decide(GOOD, gate)
    assert not decision.passed
    assert "test r2 0.8 is below the minimum 0.9" in decision.reason
    assert "test mape 0.1 is above the maximum 0.05" in decision.reason


def test_within_tolerance_of_the_champion_passes():
    gate = Gate(metric="rmse", tolerance=0.02)
    decision = decide({**GOOD, "rmse": 101.5}, gate, {**GOOD, "rmse": 100.0}, "4")
    assert decision.passed
    assert "champion v4" in decision.reason
    assert decision.champion_version == "4"


def test_worse_than_the_champion_beyond_tolerance_fails():
    gate = Gate(metric="rmse", tolerance=0.02)
    decision = decide({**GOOD, "rmse": 103.0}, gate, {**GOOD, "rmse": 100.0}, "4")
    assert not decision.passed
    assert "+3.0% worse" in decision.reason


def test_higher_is_better_for_r2():
    assert relative_worsening("r2", 0.7, 0.8) > 0
    assert relative_worsening("r2", 0.9, 0.8) < 0
    assert relative_worsening("rmse", 90, 100) < 0
    gate = Gate(metric="r2", tolerance=0.01)
    assert not decide({**GOOD, "r2": 0.7}, gate, GOOD, "1").passed
    assert decide({**GOOD, "r2": 0.85}, gate, GOOD, "1").passed


def split_metrics(test: dict[str, float], val: dict[str, float]) -> dict[str, float]:
    return {**{f"test_{k}": v for k, v in test.items()}, **{f"val_{k}": v for k, v in val.items()}}


def test_judge_compares_the_test_split_only():
    gate = Gate(metric="rmse", tolerance=0.02)
    scores = split_metrics({**GOOD, "rmse": 110.0}, {**GOOD, "rmse": 90.0})
    decision = judge(scores, gate, Champion("2", GOOD), "data-v3")
    assert not decision.passed
    assert "test rmse 110 vs champion v2 100" in decision.reason
    assert judge(scores, gate, None, "data-v3").passed


def test_a_champion_that_could_not_score_refuses_the_new_version():
    decision = judge(
        split_metrics(GOOD, GOOD), Gate(), Champion("2", None, "MlflowException: bad"), "data-v3"
    )
    assert not decision.passed
    assert decision.champion_version == "2"
    assert decision.reason == (
        "champion v2 could not be scored on the test split of data-v3: MlflowException: bad"
    )
