"""Real `airflow dags test` runs with the local task runner against a temporary MLOPS_HOME
(the session's MLflow server, a data registry, a GitOps repository, a prediction log) and a
models folder of its own, whose model's DAGs (`<kind>.<model>`) are the ones run:

- the training pipeline ends with a champion;
- the monitoring DAG, on drifted traffic in the prediction log, ends with a triggered
  run of its own model's training DAG that carries the reason;
- the rollout DAG ends at no_candidate without a candidate, and promotes a better shadow
  by a commit (its abort branch's command and the decision of every verdict are
  test_structure's: an airflow run costs the suite a minute).

No MLOPS_MODEL is set: every stage task passes `--model <model>`.

Every stage command is part of this workspace: one that does not load fails the run (the
`mlops` entry point exits 1 naming the stage), never an expected failure or a skip."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .conftest import airflow_exe

pytestmark = pytest.mark.slow

TIMINGS: dict[str, float] = {}


def training_config(model_folder: Path, refuse: bool = False) -> str:
    """The model folder's training config cut to its first candidate, baselines off (a
    quick run); with refuse, an absolute threshold no model meets, so the gate refuses."""
    import yaml

    config = yaml.safe_load((model_folder / "train.yaml").read_text())
    config["candidates"] = config["candidates"][:1]
    config["baselines"]["enabled"] = False
    if refuse:
        config["gate"]["thresholds"] = {"r2": {"min": 0.9999}}
    return yaml.safe_dump(config)


def use_training_config(env: dict[str, str], text: str) -> None:
    """The model folder's train.yaml (what a stage reads) and MLOPS_TRAIN_CONFIG both."""
    Path(env["MLOPS_TRAIN_CONFIG"]).write_text(text)


@pytest.fixture(scope="module")
def platform(airflow_db, mlflow_server, tmp_path_factory, make_model_folder) -> dict[str, str]:
    """Environment of the `airflow dags test` subprocesses: one temporary platform."""
    home = tmp_path_factory.mktemp("dags-platform")
    model = f"dags-test-{uuid.uuid4().hex[:8]}"
    models_dir = tmp_path_factory.mktemp("dags-models")
    folder = make_model_folder(models_dir, model)
    # A second model in the folder: without --model a stage command would refuse to guess.
    make_model_folder(models_dir, f"{model}-other")
    quick = training_config(folder)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MLOPS_") and name not in ("MLFLOW_TRACKING_URI",)
    }
    env.update(
        {
            "MLOPS_HOME": str(home),
            "MLOPS_LOG_FORMAT": "json",
            "MLOPS_TASK_RUNNER": "local",
            "MLOPS_MLFLOW_TRACKING_URI": mlflow_server,
            "MLFLOW_TRACKING_URI": mlflow_server,
            "MLOPS_MODELS_DIR": str(models_dir),
            "MLOPS_PROMOTE_RELOAD": "false",
            # The DAG's wiring is tested here, not the deployable check's latency budget
            # (deployment_prep's tests): a busy 2-core runner measured a 270 ms p99.
            "MLOPS_PROMOTE_LATENCY_BUDGET_MS": "5000",
            "MLOPS_TRAIN_CONFIG": str(folder / "train.yaml"),
            "TEST_MODEL": model,
            "TEST_OTHER_MODEL": f"{model}-other",
            "TEST_QUICK_TRAIN_CONFIG": quick,
            "TEST_REFUSING_TRAIN_CONFIG": training_config(folder, refuse=True),
        }
    )
    use_training_config(env, quick)
    return env


def dag_of(env: dict[str, str], kind: str) -> str:
    """The DAG id of the test model's DAG of a kind."""
    return f"{kind}.{env['TEST_MODEL']}"


def dags_test(env: dict[str, str], dag_id: str, conf: dict) -> subprocess.CompletedProcess:
    started = time.monotonic()
    proc = subprocess.run(
        [airflow_exe(), "dags", "test", dag_id, "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    TIMINGS[dag_id] = time.monotonic() - started
    print(f"airflow dags test {dag_id}: {TIMINGS[dag_id]:.1f} s")
    return proc


def metadata_db(env: dict[str, str]) -> sqlite3.Connection:
    return sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db")


def latest_run(db: sqlite3.Connection, dag_id: str) -> tuple[str, str]:
    row = db.execute(
        "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
    ).fetchone()
    assert row, f"no run of {dag_id}"
    return row


def task_states(db: sqlite3.Connection, dag_id: str, run_id: str) -> dict[str, str]:
    rows = db.execute(
        "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
        (dag_id, run_id),
    )
    return dict(rows.fetchall())


def xcom(db: sqlite3.Connection, dag_id: str, run_id: str, task_id: str, key="return_value"):
    row = db.execute(
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
        (dag_id, run_id, task_id, key),
    ).fetchone()
    assert row is not None, f"no XCom {key} of {dag_id}.{task_id}"
    value = json.loads(row[0])
    return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


def explain(proc: subprocess.CompletedProcess) -> str:
    out, err = proc.stdout[-6000:], proc.stderr[-6000:]
    return f"exit {proc.returncode}\n--- stdout\n{out}\n--- stderr\n{err}"


@pytest.fixture(scope="module")
def trained(platform) -> dict:
    """One run of the training pipeline DAG (shared by the tests of this module)."""
    training = dag_of(platform, "mlops_training_pipeline")
    proc = dags_test(platform, training, {"synthetic_rows": 3000, "seed": 7})
    assert proc.returncode == 0, explain(proc)
    with metadata_db(platform) as db:
        run_id, state = latest_run(db, training)
        states = task_states(db, training, run_id)
        summary = xcom(db, training, run_id, "summary")
        trained = xcom(db, training, run_id, "train")
    return {
        "run_id": run_id,
        "state": state,
        "states": states,
        "summary": summary,
        "train": trained,
    }


def test_training_pipeline_ends_with_a_champion(platform, trained):
    assert trained["state"] == "success", trained
    assert trained["states"] == {
        "ingest": "success",
        "train": "success",
        "live_candidate": "success",
        "quality_gate": "success",
        "promote": "success",
        "gate_refused": "skipped",
        "candidate_live": "skipped",
        "summary": "success",
    }
    summary = trained["summary"]
    assert summary["model"] == summary["model_name"] == platform["TEST_MODEL"]
    assert summary["promoted"] is True
    assert summary["data_version"] == "data-v1"
    assert summary["gate"] == "passed"
    assert summary["reason"] == "manual run"
    assert summary["left_to_rollout"] is None

    from mlops_core.mlflow_utils import client as registry_client

    client = registry_client(platform["MLOPS_MLFLOW_TRACKING_URI"])
    champion = client.get_model_version_by_alias(platform["TEST_MODEL"], "champion")
    assert str(champion.version) == str(summary["model_version"])
    assert champion.tags.get("data_version") == "data-v1"
    # the other model of the folder is untouched: no registered model of its name
    other = platform["TEST_OTHER_MODEL"]
    assert client.search_registered_models(filter_string=f"name = '{other}'") == []


def test_a_refused_gate_ends_the_run_without_promotion(platform, trained):
    training = dag_of(platform, "mlops_training_pipeline")
    use_training_config(platform, platform["TEST_REFUSING_TRAIN_CONFIG"])
    try:
        proc = dags_test(platform, training, {"synthetic_rows": 3000, "seed": 7})
    finally:
        use_training_config(platform, platform["TEST_QUICK_TRAIN_CONFIG"])
    assert proc.returncode == 0, explain(proc)  # a success, not a crash
    with metadata_db(platform) as db:
        run_id, state = latest_run(db, training)
        states = task_states(db, training, run_id)
        summary = xcom(db, training, run_id, "summary")
        refused = xcom(db, training, run_id, "gate_refused")
    assert run_id != trained["run_id"] and state == "success"
    assert states["train"] == "success"
    assert states["gate_refused"] == "success"
    assert states["promote"] == "skipped"
    assert summary["promoted"] is False and summary["gate"] == "failed"
    assert summary["data_version"] == "data-v1"  # the same data: no new version
    assert refused["promoted"] is False and "r2" in refused["reason"]

    from mlops_core.mlflow_utils import client as registry_client

    client = registry_client(platform["MLOPS_MLFLOW_TRACKING_URI"])
    champion = client.get_model_version_by_alias(platform["TEST_MODEL"], "champion")
    assert str(champion.version) == str(trained["summary"]["model_version"])  # unchanged
    assert str(summary["model_version"]) != str(champion.version)


def model_schema(env: dict[str, str]):
    from mlops_core.schema import load_schema

    return load_schema(Path(env["MLOPS_MODELS_DIR"]) / env["TEST_MODEL"] / "schema.yaml")


def write_drifted_traffic(env: dict[str, str], model_version: str, rows: int = 1500) -> None:
    """Predictions of the champion on drifted rows, logged as the prediction service does."""
    import mlflow
    import pandas as pd

    from mlops_core import predlog
    from mlops_core.synthetic import Drift, generate

    proc = subprocess.run(
        [str(Path(airflow_exe()).parent / "mlops"), "serve", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, explain(proc)
    schema = model_schema(env)
    numeric = schema.numeric_features[0]
    category = schema.categorical_features[0]
    cats = list(schema.column(category).categories)
    drift = Drift(
        shift={numeric: 1.8},
        category_weights={category: {c: (10.0 if i == 0 else 0.1) for i, c in enumerate(cats)}},
    )
    frame = generate(schema, rows, seed=99, drift=drift)
    features = frame[schema.feature_names]
    model = mlflow.pyfunc.load_model(f"models:/{env['TEST_MODEL']}/{model_version}")
    predictions = model.predict(features)
    now = predlog.utcnow()
    records = features.astype(object).where(pd.notna(features), None).to_dict("records")
    prediction_rows = [
        {
            "request_id": uuid.uuid4().hex,
            "created_at": now,
            "model_name": env["TEST_MODEL"],
            "model_version": str(model_version),
            "features": {k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()},
            "prediction": float(p),
            "latency_ms": 1.0,
        }
        for rec, p in zip(records, predictions, strict=True)
    ]
    url = f"sqlite:///{Path(env['MLOPS_HOME']) / 'predictions.db'}"
    engine = predlog.create_engine(url)
    try:
        with engine.begin() as conn:
            predlog.write_rows(conn, prediction_rows)
    finally:
        engine.dispose()


def test_monitoring_on_drifted_traffic_triggers_a_training_run(platform, trained, monkeypatch):
    version = str(trained["summary"]["model_version"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", platform["MLFLOW_TRACKING_URI"])
    write_drifted_traffic(platform, version)

    monitoring = dag_of(platform, "mlops_monitoring")
    training = dag_of(platform, "mlops_training_pipeline")
    proc = dags_test(platform, monitoring, {})
    assert proc.returncode == 0, explain(proc)
    with metadata_db(platform) as db:
        run_id, state = latest_run(db, monitoring)
        states = task_states(db, monitoring, run_id)
        monitored = xcom(db, monitoring, run_id, "monitor")
        triggered = db.execute(
            "SELECT run_id, state, conf FROM dag_run WHERE dag_id = ? AND run_id = ?",
            (training, f"retrain__{run_id}"),
        ).fetchone()
        note = db.execute(
            "SELECT n.content FROM dag_run_note n JOIN dag_run r ON r.id = n.dag_run_id "
            "WHERE r.dag_id = ? AND r.run_id = ?",
            (training, f"retrain__{run_id}"),
        ).fetchone()
    assert state == "success", states
    assert states == {
        "monitor": "success",
        "assess": "success",
        "trigger_retraining": "success",
        "no_retraining": "skipped",
        # drifted features, no labels: no performance judged, nothing to roll back
        "assess_rollback": "success",
        "rollback": "skipped",
        "no_rollback": "success",
    }
    assert monitored["status"] == "drift" and monitored["exit_code"] == 6
    assert monitored["model_version"] in (version, int(version))
    schema_numeric = model_schema(platform)
    assert schema_numeric.numeric_features[0] in monitored["drifted_columns"]
    assert triggered is not None, "no training run was triggered"
    conf = json.loads(triggered[2]) if isinstance(triggered[2], str) else triggered[2]
    assert "drift" in conf["reason"] and schema_numeric.numeric_features[0] in conf["reason"]
    assert note is not None and note[0] == conf["reason"]  # shown on the run in the UI
    assert triggered[1] == "queued"  # `dags test` runs no scheduler to start it


# -- the rollout DAG: a shadow candidate beside the champion, judged on live traffic -------


def mlops_cli(env: dict[str, str], *args: str) -> dict:
    proc = subprocess.run(
        [str(Path(airflow_exe()).parent / "mlops"), *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, explain(proc)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def shadow_of_the_champion(env: dict[str, str], champion: str) -> str:
    """A new registered version with the champion's artifact and tags, put live as its
    shadow by `mlops promote --shadow` (the deployable checks, one GitOps commit). The
    comparison reads the log only, so the same artifact serves whatever the traffic says."""
    from mlops_core.mlflow_utils import client as registry_client

    client = registry_client(env["MLOPS_MLFLOW_TRACKING_URI"])
    source = client.get_model_version(env["TEST_MODEL"], champion)
    copy = client.create_model_version(
        env["TEST_MODEL"],
        source.source,
        source.run_id,
        tags=dict(source.tags),
        # MLflow 3: a `models:/m-<id>` source must name its logged model
        model_id=source.model_id or source.source.removeprefix("models:/"),
    )
    staged = mlops_cli(env, "promote", f"--model={env['TEST_MODEL']}", "--shadow",
                       f"--version={copy.version}")  # fmt: skip
    assert staged["candidate"]["mode"] == "shadow"
    return str(copy.version)


def write_shadow_traffic(env, champion: str, candidate: str, candidate_noise: float, rows=300):
    """Paired champion and shadow rows with feedback labels: the champion's answers 0.2 label
    standard deviations off, the shadow's `candidate_noise` off."""
    import numpy as np

    from mlops_core import predlog
    from mlops_core.synthetic import generate

    schema = model_schema(env)
    frame = generate(schema, rows, seed=11)
    labels = frame[schema.label.name].to_numpy(float)
    rng = np.random.default_rng(5)
    answers = {
        champion: labels + rng.normal(0, 0.2 * labels.std(), rows),
        candidate: labels + rng.normal(0, candidate_noise * labels.std(), rows),
    }
    records = json.loads(frame[schema.feature_names].to_json(orient="records"))
    ids = [uuid.uuid4().hex for _ in range(rows)]
    now = predlog.utcnow()
    predictions = [
        {"request_id": rid + suffix, "created_at": now, "model_name": env["TEST_MODEL"],
         "model_version": version, "features": record, "prediction": float(value),
         "latency_ms": 1.0, "role": role}
        for version, role, suffix in ((champion, "champion", ""), (candidate, "shadow", ":shadow"))
        for rid, record, value in zip(ids, records, answers[version], strict=True)
    ]  # fmt: skip
    feedback = [{"request_id": rid, "label": float(y), "created_at": now}
                for rid, y in zip(ids, labels, strict=True)]  # fmt: skip
    engine = predlog.create_engine(f"sqlite:///{Path(env['MLOPS_HOME']) / 'predictions.db'}")
    try:
        predlog.metadata.create_all(engine)
        with engine.begin() as conn:
            predlog.write_rows(conn, predictions, feedback)
    finally:
        engine.dispose()


def rollout_run(env: dict[str, str]) -> dict:
    rollout = dag_of(env, "mlops_rollout")
    proc = dags_test(env, rollout, {})
    assert proc.returncode == 0, explain(proc)
    with metadata_db(env) as db:
        run_id, state = latest_run(db, rollout)
        assert state == "success", task_states(db, rollout, run_id)
        return {
            "states": task_states(db, rollout, run_id),
            "outcome": xcom(db, rollout, run_id, "outcome"),
        }


def commit_message(repo: str, commit: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "log", "-1", "--format=%B", commit],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def live_policy(platform):
    """The test model's `live:` policy: 100 rows a side, the metric's bound decides (the
    answers are synthetic, so agreement is not judged)."""
    import yaml

    path = Path(platform["MLOPS_MODELS_DIR"]) / platform["TEST_MODEL"] / "monitor.yaml"
    policy = yaml.safe_load(path.read_text())
    policy["live"] = {**policy.get("live", {}), "min_rows": 100, "min_labelled_rows": 100,
                      "max_disagreement": None}  # fmt: skip
    path.write_text(yaml.safe_dump(policy))
    return path


def test_rollout_without_a_candidate_ends_at_no_candidate(platform, trained):
    ran = rollout_run(platform)
    assert ran["states"] == {
        "live_candidate": "success",
        "assess_candidate": "success",
        "no_candidate": "success",
        "compare": "skipped",
        "decide": "skipped",
        "promote": "skipped",
        "abort": "skipped",
        "wait": "skipped",
        "outcome": "success",
    }
    assert ran["outcome"]["outcome"] == "no_candidate"


def test_a_better_shadow_is_promoted_by_a_commit(platform, trained, live_policy, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", platform["MLFLOW_TRACKING_URI"])
    champion = str(trained["summary"]["model_version"])
    candidate = shadow_of_the_champion(platform, champion)
    write_shadow_traffic(platform, champion, candidate, candidate_noise=0.05)

    ran = rollout_run(platform)
    assert ran["states"]["promote"] == "success", ran["states"]
    assert {ran["states"][t] for t in ("abort", "wait", "no_candidate")} == {"skipped"}
    out = ran["outcome"]
    assert out["outcome"] == "promoted" and out["verdict"] == "pass"
    assert out["champion"] == candidate
    message = commit_message(str(Path(platform["MLOPS_HOME"]) / "gitops"), out["commit"])
    assert f"live comparison pass (run {out['compare_run']})" in message

    from mlops_core.mlflow_utils import client as registry_client

    client = registry_client(platform["MLOPS_MLFLOW_TRACKING_URI"])
    now = client.get_model_version_by_alias(platform["TEST_MODEL"], "champion")
    assert str(now.version) == candidate and now.tags["live_verdict"] == "pass"
