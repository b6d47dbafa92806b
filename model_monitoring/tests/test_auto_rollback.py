"""Rollback on live degradation: the confidence bound on its own with known values, the
decision, and end to end - two promoted versions of a model, traffic sent to a real
`mlops serve` with real feedback labels, `mlops monitor --rollback-on-degradation` running
`mlops rollback` as a stage command against the real MLflow server and GitOps repository."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from registered import register, unique
from served import serving, wait_for_log

from mlops_core.contracts import read_result
from mlops_core.contracts.monitor import MonitorResult, Performance
from mlops_core.synthetic import generate
from model_monitoring import bounds
from model_monitoring.policy import PerformanceRule, Policy
from model_monitoring.rollback import decide


# -- the bound ------------------------------------------------------------------------------
def _rmse_interval(n: int, seed: int = 0) -> bounds.Interval:
    error = np.random.default_rng(seed).normal(0, 10, n)
    return bounds.bootstrap(bounds.regression_statistic("rmse", np.zeros(n), error), 0.95)


def test_the_interval_shrinks_as_one_over_root_n():
    small, large = _rmse_interval(100), _rmse_interval(10_000)
    assert small.lo < 10 < small.hi and large.lo < 10 < large.hi
    ratio = (small.hi - small.lo) / (large.hi - large.lo)
    assert 7 < ratio < 13, ratio  # sqrt(10 000 / 100) = 10
    assert _rmse_interval(100) == small  # seeded: the same rows give the same interval


def test_the_interval_of_an_accuracy_matches_the_normal_approximation():
    """320 of 400 right: p = 0.8, standard error sqrt(0.8 x 0.2 / 400) = 0.02."""
    hits = np.array(["a"] * 320 + ["b"] * 80, dtype=object)
    stat = bounds.classification_statistic("accuracy", ["a"] * 400, hits, ["a", "b"], None)
    found = bounds.bootstrap(stat, 0.95, resamples=4000)
    assert found.lo == pytest.approx(0.8 - 1.96 * 0.02, abs=0.006)
    assert found.hi == pytest.approx(0.8 + 1.96 * 0.02, abs=0.006)
    wider = bounds.bootstrap(stat, 0.99, resamples=4000)
    assert wider.lo < found.lo and wider.hi > found.hi


def test_above_max_rows_the_cost_is_bounded_and_the_width_still_that_of_n():
    n = 200_000  # p = 0.8 again: half-width 1.96 x sqrt(0.16 / n) = 0.00175
    hits = np.where(np.arange(n) % 5 == 0, "b", "a").astype(object)
    stat = bounds.classification_statistic("accuracy", ["a"] * n, hits, ["a", "b"], None)
    found = bounds.bootstrap(stat, 0.95, max_rows=20_000)
    assert found.rows == 20_000
    half = 1.96 * np.sqrt(0.16 / n)
    assert (found.hi - found.lo) / 2 == pytest.approx(half, rel=0.2)
    assert (found.lo + found.hi) / 2 == pytest.approx(0.8, abs=half / 3)


def test_a_constant_error_has_no_spread_and_roc_auc_matches_scikit_learn():
    stat = bounds.regression_statistic("mae", np.zeros(50), np.r_[np.ones(25), -np.ones(25)])
    found = bounds.bootstrap(stat, 0.95)
    assert (found.lo, found.hi) == pytest.approx((1.0, 1.0))

    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    truth = rng.random(500) < 0.4
    score = np.clip(truth * 0.3 + rng.random(500) * 0.7, 0, 1).round(2)  # with ties
    proba = pd.DataFrame({"yes": score, "no": 1 - score})
    labels = np.where(truth, "yes", "no").astype(object)
    stat = bounds.classification_statistic("roc_auc", labels, labels, ["no", "yes"], proba)
    full = bounds._evaluate(stat, np.ones((1, 500)), 500)[0]
    assert full == pytest.approx(roc_auc_score(truth, score))
    found = bounds.bootstrap(stat, 0.95)
    assert found.lo < full < found.hi and found.hi - found.lo < 0.15


def test_only_a_whole_interval_beyond_the_limit_is_degraded():
    beyond = PerformanceRule.interval_beyond
    assert beyond("rmse", (10.0, 12.0), 10.0) is False  # the bound exactly at the limit
    assert beyond("rmse", (10.001, 12.0), 10.0) is True
    assert beyond("rmse", (9.0, 12.0), 10.0) is False  # straddles
    assert beyond("roc_auc", (0.6, 0.7), 0.7) is False
    assert beyond("roc_auc", (0.6, 0.69), 0.7) is True
    assert beyond("rmse", None, 10.0) is False and beyond("rmse", (11.0, 12.0), None) is False


# -- the decision ---------------------------------------------------------------------------
def _performance(value: float, interval: tuple[float, float], rows: int = 300) -> Performance:
    rule = PerformanceRule()
    return Performance(
        labelled_rows=rows,
        metric="rmse",
        value=value,
        baseline=100.0,
        limit=125.0,
        degraded=rule.beyond("rmse", value, 125.0),
        interval=list(interval),
        confidence=0.95,
        interval_degraded=rule.interval_beyond("rmse", interval, 125.0),
    )


def test_the_decision_needs_the_policy_the_rows_the_bound_and_the_champion():
    rollback = Policy(performance={"on_degradation": "rollback"})
    clearly = _performance(300.0, (280.0, 320.0))
    champion_is_3 = lambda: "3"  # noqa: E731

    def decided(policy, perf, champion=champion_is_3):
        return decide(policy, perf, judged_version="3", champion=champion, run_id="r1")

    assert decided(Policy(), clearly) is None  # on_degradation: alert (the default)
    assert decided(rollback, None) is None  # nothing judged (too few labels)
    due = decided(rollback, clearly)
    assert due.advised and due.from_version == "3" and not due.triggered
    assert due.reason == (
        "rmse 300 (95% CI [280, 320]) beyond limit 125 on 300 labelled rows, monitoring run r1"
    )
    few = decided(rollback, _performance(300.0, (280.0, 320.0), rows=150))
    assert not few.advised and "150 labelled rows, a rollback needs at least 200" in few.reason
    noisy = decided(rollback, _performance(130.0, (118.0, 142.0)))
    assert not noisy.advised and "noise is not ruled out" in noisy.reason
    fine = decided(rollback, _performance(110.0, (100.0, 120.0)))
    assert not fine.advised and "within the limit" in fine.reason

    asked = []
    moved = decided(rollback, clearly, champion=lambda: asked.append(1) or "2")
    assert not moved.advised and "no longer the champion (the champion is v2)" in moved.reason
    decided(rollback, noisy_perf := _performance(130.0, (118.0, 142.0)), lambda: asked.append(1))
    assert len(asked) == 1 and noisy_perf.degraded  # the registry is asked only when due


# -- end to end -----------------------------------------------------------------------------
def _git(repo, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def _send(served, schema, rows: int, seed: int, labelled: int, error_rms: float) -> list[str]:
    """`rows` predictions in batches; the first `labelled` get feedback whose error has an
    RMS of exactly `error_rms` (labels above the prediction: never below the schema's min)."""
    frame = generate(schema, rows, seed=seed)
    records = json.loads(frame[schema.feature_names].to_json(orient="records"))
    ids, predictions = [], []
    with httpx.Client(base_url=served.url, timeout=60) as client:
        for start in range(0, rows, 200):
            response = client.post(
                "/v1/predict/batch", json={"records": records[start : start + 200]}
            )
            assert response.status_code == 200, response.text
            ids += response.json()["request_ids"]
            predictions += response.json()["predictions"]
        error = np.abs(np.random.default_rng(seed).normal(size=labelled))
        error *= error_rms / np.sqrt(np.mean(error**2))
        for request_id, predicted, e in zip(ids, predictions, error, strict=False):
            response = client.post(
                "/v1/feedback", json={"request_id": request_id, "label": float(predicted + e)}
            )
            assert response.status_code == 202, response.text
    return ids


def _mark() -> str:
    time.sleep(0.05)
    mark = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    return mark


def _monitor(mlops, *args: str) -> tuple[int, MonitorResult]:
    run = mlops("monitor", *args, "--rollback-on-degradation", "--json")
    assert run.exit_code in (0, 6, 7, 9), run.stdout + run.stderr
    return run.exit_code, read_result(run.stdout, MonitorResult)


@pytest.mark.slow
def test_a_degraded_champion_is_rolled_back_by_commit_and_only_once(
    tracking_uri, mlops_home, tmp_path, monkeypatch, mlops, make_model_folder
):
    from mlflow import MlflowClient

    from mlops_core.settings import get_settings

    name = unique("house")
    models = tmp_path / "own-models"
    folder = make_model_folder(models, name)
    policy = (folder / "monitor.yaml").read_text().replace("min_rows: 200", "min_rows: 100")
    (folder / "monitor.yaml").write_text(policy.replace("on_degradation: alert",
                                                        "on_degradation: rollback"))  # fmt: skip
    alert_only = tmp_path / "alert.yaml"
    alert_only.write_text(policy)
    for variable, value in {
        "MLOPS_MODELS_DIR": str(models),
        "MLOPS_MODEL": name,
        # Deployable checks sized for two busy cores (as the deployment tests do).
        "MLOPS_PROMOTE_LATENCY_SAMPLES": "30",
        "MLOPS_PROMOTE_LATENCY_BUDGET_MS": "5000",
        "MLOPS_PROMOTE_CHECK_ROWS": "200",
    }.items():
        monkeypatch.setenv(variable, value)
    settings = get_settings()
    v1 = register(settings, folder, tracking_uri, seed=1, alias=None, signed=True)
    v2 = register(settings, folder, tracking_uri, seed=2, alias=None, signed=True)
    for reg in (v1, v2):
        promoted = mlops("promote", "--version", reg.version, "--json")
        assert promoted.exit_code == 0, promoted.stdout + promoted.stderr
    client = MlflowClient(tracking_uri)
    champion = lambda: client.get_model_version_by_alias(name, "champion").version  # noqa: E731
    assert champion() == v2.version
    gitops = mlops_home / "gitops"
    commits = int(_git(gitops, "rev-list", "--count", "HEAD"))
    baseline = v2.metrics["test_rmse"]

    env = {"MLOPS_MLFLOW_TRACKING_URI": tracking_uri, "MLOPS_MODELS_DIR": str(models),
           "MLOPS_MODEL": name}  # fmt: skip
    with serving(mlops_home, env, name, poll=1) as served:
        start = _mark()
        # Slightly worse (RMS 1.3 x test rmse > the 1.25 x limit) on 250 rows: the value
        # is beyond the limit, its 95 % interval is not all beyond it.
        ids = _send(served, v2.schema, 250, seed=12, labelled=250, error_rms=1.3 * baseline)
        wait_for_log(settings.prediction_log, ids, labelled=True)
        noisy_end = _mark()
        code, noisy = _monitor(mlops, "--since", start, "--until", noisy_end)
        perf = noisy.performance
        assert code == 6 and noisy.degraded and perf.value > perf.limit, noisy.message
        assert perf.interval[0] < perf.limit < perf.interval[1] and perf.confidence == 0.95
        assert not perf.interval_degraded and noisy.rollback_advised is False
        assert "noise is not ruled out" in noisy.rollback.reason
        assert any(r.startswith("degradation: rmse") for r in noisy.reasons)  # the alert

        # Clearly worse (RMS 3 x) on 300 labelled rows: first under a policy that alerts.
        ids = _send(served, v2.schema, 300, seed=13, labelled=300, error_rms=3 * baseline)
        wait_for_log(settings.prediction_log, ids, labelled=True)
        bad_end = _mark()
        window = ("--since", noisy_end, "--until", bad_end)
        code, alerted = _monitor(mlops, *window, "--policy", str(alert_only))
        assert code == 6 and alerted.performance.interval_degraded, alerted.message
        assert alerted.rollback is None and alerted.rollback_advised is False
        assert any(r.startswith("degradation: rmse") for r in alerted.reasons)
        assert champion() == v2.version
        assert int(_git(gitops, "rev-list", "--count", "HEAD")) == commits

        # ... then under the model's own policy: rolled back to v1 by a GitOps commit.
        code, rolled = _monitor(mlops, *window)
        assert code == 6, rolled.message
        outcome = rolled.rollback
        assert rolled.rollback_advised and outcome.triggered and outcome.ok, outcome
        assert (outcome.from_version, outcome.to_version) == (v2.version, v1.version)
        assert champion() == v1.version
        assert rolled.performance.interval[0] > rolled.performance.limit
        assert outcome.reason.startswith(f"rmse {rolled.performance.value:.4g} (95% CI [")
        assert "on 300 labelled rows, monitoring run " in outcome.reason
        assert outcome.reason.endswith(Path(rolled.report_json).stem)
        assert outcome.commit == _git(gitops, "rev-parse", "HEAD")
        assert int(_git(gitops, "rev-list", "--count", "HEAD")) == commits + 1
        message = _git(gitops, "log", "-1", "--format=%B")
        assert f"Roll back {name} to v{v1.version}" in message and outcome.reason in message
        pinned = (gitops / f"gitops/envs/kind/models/{name}.yaml").read_text()
        assert f'version: "{v1.version}"' in pinned
        assert any(r.startswith(f"rolled back: champion v{v2.version} -> v{v1.version}")
                   for r in rolled.reasons)  # fmt: skip
        stored = json.loads(Path(rolled.report_json).read_text())
        assert stored["rollback"]["ok"] is True  # the stored run records it too

        # The same window again: v2 is no longer the champion, nothing more happens.
        code, again = _monitor(mlops, *window)
        assert code == 6 and again.degraded and again.rollback_advised is False
        assert "no longer the champion" in again.rollback.reason
        assert again.rollback.triggered is False and champion() == v1.version
        assert int(_git(gitops, "rev-list", "--count", "HEAD")) == commits + 1

        # The service follows the alias: new traffic is answered by v1. When v1 degrades
        # too there is no previous champion: the failed rollback is exit 9, not swallowed.
        deadline = time.monotonic() + 30
        while httpx.get(served.url + "/v1/model").json()["model_version"] != v1.version:
            assert time.monotonic() < deadline, "the service still serves v2"
            time.sleep(0.5)
        start = _mark()
        ids = _send(served, v1.schema, 250, seed=14, labelled=250, error_rms=3 * baseline)
        wait_for_log(settings.prediction_log, ids, labelled=True)
        code, failed = _monitor(mlops, "--since", start, "--until", _mark())
    assert failed.model_version == v1.version and failed.rollback_advised
    assert code == 9 and failed.rollback.triggered and failed.rollback.ok is False
    assert failed.rollback.exit_code == 2 and "no previous champion" in failed.rollback.error
    assert any(r.startswith("rollback failed: ") for r in failed.reasons)
    assert champion() == v1.version


def test_the_summary_shows_the_interval_and_the_rollback():
    from rich.console import Console

    from mlops_core.contracts.monitor import RollbackOutcome
    from model_monitoring.cli import _human

    result = MonitorResult(
        status="drift",
        model_name="house-price",
        model_version="2",
        policy="monitor.yaml",
        performance=_performance(300.0, (280.0, 320.0)),
        rollback_advised=True,
        rollback=RollbackOutcome(advised=True, triggered=True, ok=True, reason="rmse 300 ...",
                                 from_version="2", to_version="1", commit="0a1b2c3d4e5f6a7b"),
    )  # fmt: skip
    console = Console(record=True, width=200)
    _human(console, result)
    text = console.export_text()
    assert "rmse: 300, 95% CI [280, 320] (limit 125)" in text
    assert "rolled back: v2 -> v1 (commit 0a1b2c3d4e5f): rmse 300 ..." in text
    failed = result.model_copy(
        update={"rollback": RollbackOutcome(advised=True, triggered=True, ok=False,
                                            reason="r", error="no previous champion")}
    )  # fmt: skip
    console = Console(record=True, width=200)
    _human(console, failed)
    assert "rollback failed: no previous champion" in console.export_text()
