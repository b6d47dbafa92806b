"""`mlops monitor` end to end on a real platform: the session's trained model (MLflow server,
data registry), a SQLite prediction log written through mlops_core.predlog, the report store,
the Evidently workspace and MLflow; and the retraining path as subprocesses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from monitor_helpers import reversed_mix

from mlops_core.settings import get_settings
from mlops_core.synthetic import Drift, generate

predlog = pytest.importorskip(
    "mlops_core.predlog", reason="mlops_core.predlog (serve branch) is not merged here yet"
)
mlflow_utils = pytest.importorskip(
    "mlops_core.mlflow_utils", reason="mlops_core.mlflow_utils (train branch) is not merged yet"
)

_MODELS: dict[str, object] = {}


def _model(uri: str):
    if uri not in _MODELS:
        _MODELS[uri] = mlflow_utils.load_model(uri)
    return _MODELS[uri]


def log_traffic(schema, name, version, uri, rows, seed, start, drift=None, labelled=True):
    """Serve `rows` synthetic requests the way the prediction service logs them."""
    engine = predlog.create_engine(get_settings().prediction_log)
    predlog.metadata.create_all(engine)
    frame = generate(schema, rows, seed=seed, drift=drift)
    preds = _model(uri).predict(frame[schema.feature_names])
    features = json.loads(frame[schema.feature_names].to_json(orient="records"))
    ids = [f"req-{seed}-{i}" for i in range(rows)]
    times = [start + timedelta(milliseconds=10 * i) for i in range(rows)]
    predictions = [
        {"request_id": r, "created_at": t, "model_name": name, "model_version": str(version),
         "features": f, "prediction": float(p), "latency_ms": 1.0}
        for r, t, f, p in zip(ids, times, features, preds, strict=True)
    ]  # fmt: skip
    feedback = (
        [{"request_id": r, "label": float(y), "created_at": t}
         for r, y, t in zip(ids, frame[schema.label.name], times, strict=True)]
        if labelled else []
    )  # fmt: skip
    with engine.begin() as conn:
        predlog.write_rows(conn, predictions, feedback)
    engine.dispose()
    return ids


@pytest.mark.slow
def test_monitor_runs_against_the_trained_model(trained_model, mlops_home, monkeypatch, mlops):
    trained_model.use(monkeypatch)
    schema = get_settings().load_schema()
    tm = trained_model
    t0 = datetime.now(UTC) - timedelta(hours=2)
    log_traffic(schema, tm.model_name, tm.version, tm.model_uri, 600, seed=21, start=t0)

    first = mlops("monitor", "--until", (t0 + timedelta(hours=1)).isoformat(), "--json")
    assert first.exit_code == 0, first.stderr
    out = first.json
    assert out["status"] == "no_drift" and out["drifted_columns"] == []
    assert out["model_version"] == tm.version and out["data_version"] == tm.data_version
    assert out["rows"] == 600 and out["labelled_rows"] == 600 and out["rmse"] > 0
    assert out["reference_rows"] > 0 and out["window"]["since"] is None
    html, stored = Path(out["report_html"]), Path(out["report_json"])
    assert html.stat().st_size > 100_000 and "<html" in html.read_text()[:2000].lower()
    assert json.loads(stored.read_text())["status"] == "no_drift"
    assert out["evidently_snapshot"] and out["mlflow_run_id"] and "warnings" not in out

    # The default window starts where the previous run ended: nothing new -> exit 7.
    again = mlops("monitor", "--json")
    assert again.exit_code == 7 and again.json["status"] == "insufficient_data"
    assert again.json["window"]["since_previous_run"] is True
    assert sorted(p.name for p in stored.parent.iterdir()) == sorted([html.name, stored.name])

    # A drifted batch: a shifted numeric feature and another category mix, no labels.
    numeric, category = schema.numeric_features[0], schema.categorical_features[0]
    drift = Drift(shift={numeric: 1.5}, category_weights={category: reversed_mix(schema, category)})
    log_traffic(schema, tm.model_name, tm.version, tm.model_uri, 600, seed=22,
                start=t0 + timedelta(hours=1, minutes=1), drift=drift, labelled=False)  # fmt: skip
    drifted = mlops("monitor", "--json")
    assert drifted.exit_code == 6, drifted.stderr
    assert drifted.json["status"] == "drift" and drifted.json["retrain_advised"] is True
    assert drifted.json["drifted_columns"] == sorted([numeric, category])
    assert drifted.json["rows"] == 600 and drifted.json["rmse"] is None

    client = mlflow_utils.client(tm.tracking_uri)
    experiment = client.get_experiment_by_name(f"{tm.model_name}-monitoring")
    runs = client.search_runs([experiment.experiment_id])
    assert {r.data.tags["status"] for r in runs} == {"no_drift", "drift"}
    assert all(r.data.tags["model_version"] == tm.version for r in runs)
    assert {r.data.metrics["drifted_columns"] for r in runs} == {0.0, 2.0}
    version = client.get_model_version(tm.model_name, tm.version)
    assert version.tags["monitoring_status"] == "drift"


@pytest.mark.slow
def test_log_rows_not_matching_the_schema_are_named(trained_model, mlops_home, monkeypatch, mlops):
    trained_model.use(monkeypatch)
    schema = get_settings().load_schema()
    tm = trained_model
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    ids = log_traffic(schema, tm.model_name, tm.version, tm.model_uri, 300, seed=31, start=t0)
    engine = predlog.create_engine(get_settings().prediction_log)
    with engine.begin() as conn:
        row = conn.execute(
            predlog.predictions.select().where(predlog.predictions.c.request_id == ids[5])
        ).one()
        features = dict(row.features)
        features.pop(schema.feature_names[-1])
        conn.execute(
            predlog.predictions.update()
            .where(predlog.predictions.c.request_id == ids[5])
            .values(features=features)
        )
    engine.dispose()
    result = mlops("monitor", "--json")
    assert result.exit_code == 4
    assert ids[5] in result.json["error"] and schema.feature_names[-1] in result.json["error"]
    assert not (mlops_home / "reports").exists() or not list(
        (mlops_home / "reports").rglob("*.json")
    )


@pytest.mark.slow
def test_a_drifted_batch_triggers_retraining(tracking_uri, unique_model_name, mlops_home, mlops):
    """Own platform (own data registry and model): the retraining path adds versions."""
    schema = get_settings().load_schema()
    assert mlops("ingest", "--synthetic", "1500", "--seed", "3", "--json").exit_code == 0
    trained = mlops("train", "--json")
    assert trained.exit_code == 0, trained.stderr
    version = trained.json["model_version"]
    uri = f"models:/{unique_model_name}/{version}"
    numeric = schema.numeric_features[0]
    log_traffic(schema, unique_model_name, version, uri, 400, seed=41,
                start=datetime.now(UTC) - timedelta(minutes=5),
                drift=Drift(shift={numeric: 1.6}), labelled=False)  # fmt: skip
    policy = mlops_home / "policy.yaml"
    policy.write_text(f"min_rows: 100\ndrift:\n  critical_columns: [{numeric}]\n")
    result = mlops("monitor", "--policy", str(policy), "--trigger-retrain",
                   "--synthetic", "1500", "--seed", "9", "--json")  # fmt: skip
    assert result.exit_code == 6, result.stderr
    retrain = result.json["retrain"]
    assert retrain["triggered"] and retrain["ok"], retrain
    assert [s["command"][1] for s in retrain["steps"]] == ["ingest", "train"]
    assert retrain["data_version"] == "data-v2"
    assert int(retrain["model_version"]) == int(version) + 1
