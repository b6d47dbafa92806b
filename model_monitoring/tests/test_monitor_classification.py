"""`mlops monitor` of classifiers and of several models in one MLOPS_HOME, on the real stores:
models registered on the session's MLflow server (mlflow.sklearn.log_model, alias
champion) with their data versions in the data registry, and their traffic in the SQLite
prediction log."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from registered import classifier_folder, customers, log_traffic, register, unique

from mlops_core.contracts import read_result
from mlops_core.contracts.monitor import MonitorResult
from mlops_core.settings import get_settings


def _monitor(mlops, *args: str) -> tuple[int, MonitorResult]:
    run = mlops("monitor", *args, "--json")
    assert run.exit_code in (0, 6, 7), run.stdout + run.stderr
    json.loads(run.stdout)  # stdout is the result alone (no MLflow run URL printed)
    return run.exit_code, read_result(run.stdout, MonitorResult)


@pytest.fixture
def models_dir(mlops_home, tmp_path, monkeypatch) -> Path:
    """An empty models folder of this test's own (MLOPS_MODELS_DIR)."""
    models = tmp_path / "own-models"
    models.mkdir()
    monkeypatch.setenv("MLOPS_MODELS_DIR", str(models))
    return models


@pytest.mark.slow
def test_a_classifier_with_traffic_and_feedback(tracking_uri, models_dir, mlops_home, mlops):
    name = unique("churn")
    folder = classifier_folder(models_dir, name)
    settings = get_settings()
    reg = register(settings, folder, tracking_uri, rows=2500)
    schema = reg.schema
    label = schema.label.name

    # Traffic like the training data, every true class reported back.
    normal = customers(schema, 1000, seed=5)
    log_traffic(settings.prediction_log, reg, normal, labels=list(normal[label]))
    time.sleep(0.05)
    code, first = _monitor(mlops, "--model", name)
    assert code == 0, first.message
    assert first.status == "no_drift" and first.task == "classification"
    assert first.model_name == name and first.model_version == reg.version
    assert first.policy == str(folder / "monitor.yaml")
    assert first.rows == first.labelled_rows == 1000
    perf = first.performance
    assert perf.task == "classification" and perf.metric == "roc_auc" == first.metric
    assert perf.baseline == pytest.approx(reg.metrics["test_roc_auc"])
    assert perf.value == perf.roc_auc == first.metric_value and perf.degraded is False
    assert 0.7 < perf.roc_auc <= 1 and 0.5 < perf.accuracy <= 1
    assert perf.balanced_accuracy and perf.f1_macro and perf.log_loss and perf.brier
    assert set(perf.per_class) == {"no", "yes"}
    assert sum(c.support for c in perf.per_class.values()) == 1000
    assert all(c.roc_auc is not None for c in perf.per_class.values())
    assert perf.rmse is None and first.rmse is None
    # Prediction drift: the predicted class distribution and the positive class's probability.
    assert first.prediction_drift.drifted is False
    assert set(first.probability_drift) == {"yes"}
    assert first.probability_drift["yes"].drifted is False
    html = Path(first.report_html)
    assert html.parent.name == name and html.name.endswith(f"-v{reg.version}.html")
    page = html.read_text()
    assert "RocAuc" in page or "ROC AUC" in page  # Evidently's classification preset ran
    assert first.evidently_project and first.evidently_snapshot and first.mlflow_run_id

    # Shorter tenure: more churn predicted, no labels yet. A policy judging the model's
    # output alone (features ignored) sees the class distribution move.
    shifted = customers(schema, 500, seed=6, shift=25.0)
    log_traffic(settings.prediction_log, reg, shifted)
    policy = mlops_home / "output-only.yaml"
    policy.write_text(
        "min_rows: 100\ndrift:\n  prediction_drift_flags: true\n  columns:\n"
        "    tenure: {ignore: true}\n    monthly: {ignore: true}\n"
    )
    time.sleep(0.05)
    code, drifted = _monitor(mlops, "--model", name, "--policy", str(policy))
    assert code == 6, drifted.message
    assert drifted.status == "drift" and drifted.rows == 500 and drifted.labelled_rows == 0
    assert drifted.drifted_columns == [] and drifted.performance is None
    assert drifted.prediction_drift.drifted and drifted.probability_drift["yes"].drifted
    assert any(r.startswith("prediction drift") for r in drifted.reasons), drifted.reasons
    assert "probability drift of class(es) yes" in drifted.reasons
    assert drifted.window.since == first.window.until

    # Feedback that contradicts the model: the degradation rule on roc_auc fires.
    bad = customers(schema, 400, seed=7)
    flipped = ["yes" if c == "no" else "no" for c in bad[label]]
    log_traffic(settings.prediction_log, reg, bad, labels=flipped)
    time.sleep(0.05)
    code, degraded = _monitor(mlops, "--model", name)
    assert code == 6, degraded.message
    assert degraded.degraded and degraded.retrain_advised
    assert degraded.performance.roc_auc < 0.3 and degraded.performance.value < perf.limit
    assert degraded.labelled_rows == 400
    assert any(r.startswith("degradation: roc_auc") and "< limit" in r for r in degraded.reasons)

    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name(f"{name}-monitoring").experiment_id])
    assert {r.data.tags["status"] for r in runs} == {"no_drift", "drift"}
    assert client.get_model_version(name, reg.version).tags["monitoring_status"] == "drift"


@pytest.mark.slow
def test_two_models_in_one_home_keep_their_reports_and_verdicts_apart(
    tracking_uri, models_dir, mlops_home, mlops, make_model_folder
):
    churn, house = unique("churn"), unique("house")
    classifier_folder(models_dir, churn)
    make_model_folder(models_dir, house)
    settings = get_settings()
    reg_c = register(settings, models_dir / churn, tracking_uri, rows=1200, seed=2)
    reg_h = register(settings, models_dir / house, tracking_uri, rows=1200, seed=3)

    from mlops_core.synthetic import generate

    # Both models' traffic in one prediction log; only the classifier's drifts.
    churn_rows = customers(reg_c.schema, 300, seed=8, shift=30.0)
    log_traffic(settings.prediction_log, reg_c, churn_rows)
    house_rows = generate(reg_h.schema, 250, seed=9)
    log_traffic(settings.prediction_log, reg_h, house_rows,
                labels=list(house_rows[reg_h.schema.label.name]))  # fmt: skip
    time.sleep(0.05)

    several = mlops("monitor", "--json")
    assert several.exit_code == 2
    assert "several models" in several.json["error"] and churn in several.json["error"]

    code_c, res_c = _monitor(mlops, "--model", churn)
    code_h, res_h = _monitor(mlops, "-m", house)
    assert (code_c, res_c.status, res_c.task) == (6, "drift", "classification")
    assert (code_h, res_h.status, res_h.task) == (0, "no_drift", "regression"), res_h.message
    assert (res_c.rows, res_h.rows) == (300, 250)  # each read its own rows only
    assert res_c.drifted_columns == ["tenure"] and res_h.drifted_columns == []
    assert res_h.performance.metric == "rmse" and res_h.rmse > 0 and res_c.performance is None
    assert res_c.data_version == reg_c.data_version and res_h.data_version == reg_h.data_version

    reports = mlops_home / "reports"
    assert sorted(p.name for p in reports.iterdir()) == sorted([churn, house])
    for name, result in ((churn, res_c), (house, res_h)):
        [stored] = list((reports / name).glob("*.json"))
        assert json.loads(stored.read_text())["model_name"] == name
        assert Path(result.report_html).parent == reports / name
    assert res_c.evidently_project != res_h.evidently_project
    workspace = mlops_home / "monitoring" / "workspace"
    projects = {json.loads(p.read_text())["name"] for p in workspace.glob("*/metadata.json")}
    assert {churn, house} <= projects or len(list(workspace.glob("*/dashboard.json"))) == 2

    # A second run of one model never moves the other's window.
    code_c2, again = _monitor(mlops, "--model", churn)
    assert code_c2 == 7 and again.window.since == res_c.window.until
    assert len(list((reports / house).glob("*.json"))) == 1

    client = MlflowClient(tracking_uri)
    for name, status in ((churn, "drift"), (house, "no_drift")):
        experiment = client.get_experiment_by_name(f"{name}-monitoring")
        [run] = client.search_runs([experiment.experiment_id])
        assert run.data.tags["model_name"] == name and run.data.tags["status"] == status


@pytest.mark.slow
def test_log_classes_the_schema_does_not_know_are_named(
    tracking_uri, models_dir, mlops_home, mlops
):
    name = unique("churn")
    folder = classifier_folder(models_dir, name)
    settings = get_settings()
    reg = register(settings, folder, tracking_uri, rows=800)
    normal = customers(reg.schema, 150, seed=5)
    labels = list(normal[reg.schema.label.name])
    labels[3] = "maybe"
    log_traffic(settings.prediction_log, reg, normal, labels=labels)
    result = mlops("monitor", "--model", name, "--json")
    assert result.exit_code == 4, result.stdout
    assert "'maybe'" in result.json["error"] and "label class" in result.json["error"]
    assert not list((mlops_home / "reports").rglob("*.json"))


def test_an_unknown_model_names_the_known_ones(mlops, models_dir, mlops_home):
    classifier_folder(models_dir, "churn")
    result = mlops("monitor", "--model", "fraud", "--json")
    assert result.exit_code == 2
    assert "unknown model 'fraud'" in result.json["error"] and "churn" in result.json["error"]
    result = mlops("monitor", "ui", "--model", "fraud", "--json")
    assert result.exit_code == 2 and "unknown model 'fraud'" in result.json["error"]


def test_a_policy_metric_of_the_other_task_is_bad_input(mlops, models_dir, mlops_home):
    classifier_folder(models_dir, "churn")
    policy = mlops_home / "p.yaml"
    policy.write_text("performance:\n  metric: rmse\n")
    result = mlops("monitor", "--model", "churn", "--policy", str(policy), "--json")
    assert result.exit_code == 2
    assert "'rmse' is not a classification metric" in result.json["error"]
    # The model folder's own monitor.yaml is checked the same way.
    (models_dir / "churn" / "monitor.yaml").write_text("performance:\n  metric: r2\n")
    result = mlops("monitor", "--model", "churn", "--json")
    assert result.exit_code == 2 and "monitor.yaml: performance.metric 'r2'" in result.json["error"]


def test_a_model_without_monitor_yaml_is_bad_input(mlops, models_dir, mlops_home):
    folder = classifier_folder(models_dir, "churn")
    (folder / "monitor.yaml").unlink()
    result = mlops("monitor", "--model", "churn", "--json")
    assert result.exit_code == 2
    assert "model 'churn' has no monitoring policy" in result.json["error"]
