"""`mlops monitor` end to end on a real platform: the session's trained model (MLflow server,
data registry) served by a real `mlops serve` (uvicorn) that client traffic reaches over
HTTP, its SQLite prediction log, the report store, the Evidently workspace and MLflow; and
the retraining path as subprocesses."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mlflow import MlflowClient
from monitor_helpers import reversed_mix
from served import send_traffic, serving, wait_for_log

from mlops_core import predlog
from mlops_core.contracts import read_result
from mlops_core.contracts.monitor import MonitorResult
from mlops_core.settings import get_settings
from mlops_core.synthetic import Drift, generate


def _monitor(mlops, *args: str) -> tuple[int, MonitorResult]:
    run = mlops("monitor", *args, "--json")
    assert run.exit_code in (0, 6, 7), run.stdout + run.stderr
    return run.exit_code, read_result(run.stdout, MonitorResult)


@pytest.mark.slow
def test_monitor_judges_traffic_sent_to_the_prediction_service(
    trained_model, mlops_home, monkeypatch, mlops
):
    trained_model.use(monkeypatch)
    settings = get_settings()
    schema, tm = settings.load_schema(), trained_model
    numeric, category = schema.numeric_features[0], schema.categorical_features[0]
    drift = Drift(shift={numeric: 1.5}, category_weights={category: reversed_mix(schema, category)})
    with serving(mlops_home, tm.env, tm.model_uri) as served:
        normal = send_traffic(served, schema, 600, seed=21)
        wait_for_log(settings.prediction_log, normal, labelled=True)
        time.sleep(0.05)
        boundary = datetime.now(UTC)
        time.sleep(0.05)

        code, first = _monitor(mlops, "--until", boundary.isoformat())
        assert code == 0, first
        assert first.status == "no_drift" and first.drifted_columns == []
        assert first.model_version == tm.version and first.data_version == tm.data_version
        assert first.rows == 600 and first.labelled_rows == 600 and first.rmse > 0
        assert first.reference_rows > 0 and first.window.since is None
        html, stored = Path(first.report_html), Path(first.report_json)
        page = html.read_text()
        title = f"{tm.model_name} v{tm.version} drift report, all predictions up to "
        assert re.search(rf"<title>{re.escape(title)}[^<]+</title>", page.split("</head>")[0])
        assert "600 current rows (600 labelled)" in page and f"version {tm.version}" in page
        assert json.loads(stored.read_text())["status"] == "no_drift"
        assert first.evidently_snapshot and first.mlflow_run_id and first.warnings is None

        # The default window starts where the previous run ended: nothing new -> exit 7.
        code, again = _monitor(mlops)
        assert code == 7 and again.status == "insufficient_data"
        assert again.window.since_previous_run is True
        assert sorted(p.name for p in stored.parent.iterdir()) == sorted([html.name, stored.name])

        # Drifted traffic: a shifted numeric feature and another category mix, no labels.
        drifted_ids = send_traffic(served, schema, 600, seed=22, drift=drift, labelled=False)
        wait_for_log(settings.prediction_log, drifted_ids, labelled=False)
        code, drifted = _monitor(mlops)
    assert code == 6, drifted
    assert drifted.status == "drift" and drifted.retrain_advised is True
    assert drifted.drifted_columns == sorted([numeric, category])
    assert drifted.rows == 600 and drifted.labelled_rows == 0 and drifted.rmse is None
    assert drifted.window.since == first.window.until and drifted.window.since_previous_run

    client = MlflowClient(tm.tracking_uri)
    experiment = client.get_experiment_by_name(f"{tm.model_name}-monitoring")
    # A classic ML experiment: the MLflow UI opens it on its runs, not on GenAI traces.
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    assert {r.data.tags["status"] for r in runs} == {"no_drift", "drift"}
    assert all(r.data.tags["model_version"] == tm.version for r in runs)
    assert {r.data.metrics["drifted_columns"] for r in runs} == {0.0, 2.0}
    version = client.get_model_version(tm.model_name, tm.version)
    assert version.tags["monitoring_status"] == "drift"


@pytest.mark.slow
def test_log_rows_not_matching_the_schema_are_named(trained_model, mlops_home, monkeypatch, mlops):
    """A log row no service of this schema could write (the service validates its input), so
    it is written straight into the log: monitoring names the row and column, writes nothing."""
    trained_model.use(monkeypatch)
    settings = get_settings()
    schema, tm = settings.load_schema(), trained_model
    frame = generate(schema, 300, seed=31)
    features = json.loads(frame[schema.feature_names].to_json(orient="records"))
    features[5].pop(schema.feature_names[-1])
    rows = [
        {"request_id": f"req-{i}", "created_at": datetime.now(UTC), "model_name": tm.model_name,
         "model_version": tm.version, "features": f, "prediction": 1.0, "latency_ms": 1.0}
        for i, f in enumerate(features)
    ]  # fmt: skip
    engine = predlog.create_engine(settings.prediction_log)
    predlog.metadata.create_all(engine)
    with engine.begin() as conn:
        predlog.write_rows(conn, rows, [])
    engine.dispose()
    result = mlops("monitor", "--json")
    assert result.exit_code == 4
    assert "req-5" in result.json["error"] and schema.feature_names[-1] in result.json["error"]
    assert not list((mlops_home / "reports").rglob("*.json"))


@pytest.mark.slow
def test_a_drifted_batch_triggers_retraining(
    tracking_uri, unique_model_name, mlops_home, mlops, quick_training
):
    """Own platform (own data registry and model): the retraining path adds versions."""
    quick_training(Path(os.environ["MLOPS_MODELS_DIR"]) / unique_model_name)
    settings = get_settings()
    schema = settings.load_schema()
    assert mlops("ingest", "--synthetic", "1500", "--seed", "3", "--json").exit_code == 0
    trained = mlops("train", "--json")
    assert trained.exit_code == 0, trained.stderr
    version = str(trained.json["model_version"])
    numeric = schema.numeric_features[0]
    env = {
        "MLOPS_MLFLOW_TRACKING_URI": tracking_uri,
        "MLOPS_MODEL": unique_model_name,
        "MLOPS_MODELS_DIR": os.environ["MLOPS_MODELS_DIR"],
    }
    with serving(mlops_home, env, f"models:/{unique_model_name}/{version}") as served:
        ids = send_traffic(served, schema, 400, seed=41, drift=Drift(shift={numeric: 1.6}),
                           labelled=False)  # fmt: skip
        wait_for_log(settings.prediction_log, ids, labelled=False)
    policy = mlops_home / "policy.yaml"
    policy.write_text(f"min_rows: 100\ndrift:\n  critical_columns: [{numeric}]\n")
    result = mlops("monitor", "--policy", str(policy), "--trigger-retrain",
                   "--synthetic", "1500", "--seed", "9", "--json")  # fmt: skip
    assert result.exit_code == 6, result.stderr
    outcome = read_result(result.stdout, MonitorResult)
    assert outcome.model_version == version and outcome.rows == 400
    retrain = outcome.retrain
    assert retrain.triggered and retrain.ok, retrain
    assert [s.command[1] for s in retrain.steps] == ["ingest", "train"]
    assert retrain.data_version == "data-v2"
    assert int(retrain.model_version) == int(version) + 1
