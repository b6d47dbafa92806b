"""`mlops monitor compare` and the live verdict: two registered versions of one model on
the session's MLflow server (without artifacts: nothing here loads a model), their
prediction-log rows written straight into a SQLite log through predlog's own writer (the
store the comparison reads), and `--require-live`'s check on the tags the comparison
writes."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlops_core import predlog
from mlops_core.errors import GateRefused
from mlops_core.live_verdict import (
    TAG_CHAMPION,
    TAG_RUN,
    TAG_TIME,
    TAG_VERDICT,
    require_live_verdict,
)
from mlops_core.synthetic import generate


def versions(client, name: str, count: int = 2) -> list[str]:
    """`count` registered versions of a new model `name`, without artifacts: the comparison
    reads the log and the registry, never the model itself."""
    client.create_registered_model(name)
    run_id = client.create_run(client.get_experiment_by_name("Default").experiment_id).info.run_id
    return [
        str(client.create_model_version(name, f"runs:/{run_id}/model", run_id).version)
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def platform(mlflow_server, tmp_path_factory, make_model_folder):
    """A platform of its own with one regression model (a house-price copy) and two
    registered versions: 1 the champion, 2 the candidate (each test sets its alias)."""
    from mlflow import MlflowClient

    tmp = tmp_path_factory.mktemp("compare")
    name = f"compare-{uuid.uuid4().hex[:6]}"
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("MLOPS_"):
                mp.delenv(key)
        mp.setenv("MLOPS_HOME", str(tmp / "home"))
        mp.setenv("MLOPS_MODELS_DIR", str(tmp / "models"))
        mp.setenv("MLOPS_MODEL", name)
        mp.setenv("MLOPS_MLFLOW_TRACKING_URI", mlflow_server)
        mp.setenv("MLFLOW_TRACKING_URI", mlflow_server)
        mp.setenv("MLOPS_LOG_FORMAT", "json")
        (tmp / "home").mkdir()
        folder = make_model_folder(tmp / "models", name)
        client = MlflowClient(mlflow_server)
        champion, candidate = versions(client, name)
        client.set_registered_model_alias(name, "champion", champion)
        yield {"name": name, "folder": folder, "tmp": tmp, "uri": mlflow_server,
               "champion": champion, "candidate": candidate}  # fmt: skip


@pytest.fixture
def live(platform, tmp_path, monkeypatch):
    """A fresh prediction log and report store; `setup(mode, policy)` sets the candidate's
    alias and writes the policy file."""
    from mlflow import MlflowClient

    client = MlflowClient(platform["uri"])
    log_url = f"sqlite:///{tmp_path / 'predictions.db'}"
    monkeypatch.setenv("MLOPS_PREDICTION_LOG_URL", log_url)
    monkeypatch.setenv("MLOPS_REPORT_STORE", str(tmp_path / "reports"))
    engine = predlog.create_engine(log_url)
    predlog.metadata.create_all(engine)
    name = platform["name"]

    def setup(mode: str = "shadow", **rule) -> str:
        for alias in ("shadow", "canary"):
            with contextlib.suppress(Exception):  # not set
                client.delete_registered_model_alias(name, alias)
        client.set_registered_model_alias(name, mode, platform["candidate"])
        for key in ("live_verdict", "live_verdict_run", "live_verdict_time"):
            with contextlib.suppress(Exception):
                client.delete_model_version_tag(name, platform["candidate"], key)
        policy = yaml.safe_load((platform["folder"] / "monitor.yaml").read_text())
        policy["live"] = {"min_rows": 100, "min_labelled_rows": 100, **rule}
        path = tmp_path / "monitor.yaml"
        path.write_text(yaml.safe_dump(policy))
        return str(path)

    yield {"setup": setup, "client": client, "engine": engine, **platform}
    engine.dispose()


def write(live, features, version, values, *, role, ids, labels=None, latency=2.0, ago=5):
    rows, feedback = [], []
    start = datetime.now(UTC) - timedelta(minutes=ago)
    records = json.loads(features.to_json(orient="records"))
    for i, (rid, record, value) in enumerate(zip(ids, records, values, strict=True)):
        rows.append({"request_id": rid, "created_at": start + timedelta(milliseconds=i),
                     "model_name": live["name"], "model_version": version, "features": record,
                     "prediction": float(value), "latency_ms": latency, "role": role})  # fmt: skip
    for rid, label in zip(ids, labels if labels is not None else [], strict=False):
        feedback.append({"request_id": rid, "label": float(label), "created_at": start})
    with live["engine"].begin() as conn:
        predlog.write_rows(conn, rows, feedback)


def traffic(live, n, seed=0):
    from mlops_core.schema import load_schema

    schema = load_schema(live["folder"] / "schema.yaml")
    frame = generate(schema, n, seed=seed)
    return frame[schema.feature_names], frame[schema.label.name].to_numpy(float)


def shadow(live, n, champion_values, candidate_values, labels, *, latency=2.0):
    features, _ = traffic(live, n)
    ids = [f"r{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]
    write(live, features, live["champion"], champion_values, role="champion", ids=ids,
          labels=labels)  # fmt: skip
    write(live, features, live["candidate"], candidate_values, role="shadow",
          ids=[f"{i}:shadow" for i in ids], latency=latency)  # fmt: skip


def run(policy):
    from model_monitoring.compare import Options, compare

    return compare(Options(policy=policy))


def test_a_shadow_with_the_champion_s_answers_agrees_fully_and_passes(live):
    policy = live["setup"]("shadow")
    _, labels = traffic(live, 300)
    noisy = labels + np.random.default_rng(1).normal(0, 0.1 * labels.std(), 300)
    shadow(live, 300, noisy, noisy, labels)
    result = run(policy)
    assert result.verdict == "pass", result.reasons
    assert result.mode == "shadow" and result.agreement.pairs == 300
    assert result.agreement.agreement == 1.0 and result.agreement.mean_abs_diff == 0
    # The champion's feedback labels its shadow's rows too: the same rows, the same rmse.
    assert result.champion.labelled_rows == result.candidate.labelled_rows == 300
    assert result.candidate.value == pytest.approx(result.champion.value)
    assert result.degradation.paired and result.degradation.interval == [0.0, 0.0]
    assert result.prediction_drift is not None and not result.prediction_drift.drifted
    assert result.champion.latency_p95_ms == 2.0 and result.latency_increase == 0
    assert result.error_rate is None and any("Prometheus" in m for m in result.measured)
    # Stored: the JSON and Evidently's HTML in the report store, the run, the tags.
    assert Path(result.report_json).is_file() and Path(result.report_html).is_file()
    stored = json.loads(Path(result.report_json).read_text())
    assert stored["verdict"] == "pass" and stored["mlflow_run_id"] == result.mlflow_run_id
    assert "against champion" in Path(result.report_html).read_text()
    tags = live["client"].get_model_version(live["name"], live["candidate"]).tags
    assert tags[TAG_VERDICT] == "pass" and tags[TAG_RUN] == result.mlflow_run_id
    assert tags[TAG_CHAMPION] == live["champion"]
    assert abs(datetime.fromisoformat(tags[TAG_TIME]) - datetime.now(UTC)) < timedelta(minutes=5)
    run_ = live["client"].get_run(result.mlflow_run_id)
    assert run_.data.tags["kind"] == "live-compare" and run_.info.status == "FINISHED"
    # --require-live takes it.
    found = require_live_verdict(live["client"], live["name"], live["candidate"], 3600,
                                 champion=live["champion"])  # fmt: skip
    assert found[TAG_VERDICT] == "pass"


def test_a_worse_shadow_fails_on_the_metric_s_bound_and_its_latency(live):
    policy = live["setup"]("shadow", max_disagreement=None, max_latency_increase=0.2)
    _, labels = traffic(live, 300)
    rng = np.random.default_rng(2)
    good = labels + rng.normal(0, 0.05 * labels.std(), 300)
    bad = labels + rng.normal(0, 0.3 * labels.std(), 300)
    shadow(live, 300, good, bad, labels, latency=3.0)
    result = run(policy)
    assert result.verdict == "fail", result.reasons
    assert [r for r in result.reasons if r.startswith("latency: p95 3.00 ms")]
    assert result.degradation.metric == "rmse" and result.degradation.interval[0] > 0.05
    assert result.candidate.value > result.champion.value
    lo, hi = result.candidate.interval
    assert lo < result.candidate.value < hi
    assert any(r.startswith("degradation: rmse") and "at least" in r for r in result.reasons)
    assert result.agreement.agreement < 1
    tags = live["client"].get_model_version(live["name"], live["candidate"]).tags
    assert tags[TAG_VERDICT] == "fail"
    with pytest.raises(GateRefused, match="is fail"):
        require_live_verdict(live["client"], live["name"], live["candidate"], 3600)


def test_a_canary_as_good_as_the_champion_passes_within_noise(live):
    """Disjoint requests, the same error distribution: the independent interval straddles
    zero and stays within max_degradation."""
    policy = live["setup"]("canary", max_degradation=0.3)
    features, labels = traffic(live, 800, seed=3)
    rng = np.random.default_rng(3)
    values = labels + rng.normal(0, 0.1 * labels.std(), 800)
    ids = [f"c{i}-{uuid.uuid4().hex[:6]}" for i in range(800)]
    write(live, features.iloc[:400], live["champion"], values[:400], role="champion",
          ids=ids[:400], labels=labels[:400], ago=4)  # fmt: skip
    write(live, features.iloc[400:], live["candidate"], values[400:], role="canary",
          ids=ids[400:], labels=labels[400:], latency=2.5)  # fmt: skip
    # The champion's answers from before the canary went live are not the same window.
    old = [f"o{i}-{uuid.uuid4().hex[:6]}" for i in range(50)]
    write(live, features.iloc[:50], live["champion"], values[:50] * 2, role="champion",
          ids=old, labels=labels[:50], ago=60)  # fmt: skip
    result = run(policy)
    assert result.verdict == "pass", result.reasons
    assert result.mode == "canary" and result.agreement is None
    assert (result.champion.rows, result.candidate.rows) == (400, 400)
    assert result.window.since == result.window.first
    lo, hi = result.degradation.interval
    assert not result.degradation.paired and lo < 0 < hi <= 0.3
    assert result.latency_increase == pytest.approx(0.25)


def test_too_few_rows_or_labels_is_insufficient_data(live, mlops):
    policy = live["setup"]("shadow")
    _, labels = traffic(live, 40)
    shadow(live, 40, labels, labels, labels)
    out = mlops("monitor", "compare", "--policy", policy, "--json")
    assert out.exit_code == 7, out.stderr
    result = out.json
    assert result["verdict"] == "insufficient_data" and result["prediction_drift"] is None
    assert any("live.min_rows" in r for r in result["reasons"])
    tags = live["client"].get_model_version(live["name"], live["candidate"]).tags
    assert tags[TAG_VERDICT] == "insufficient_data"
    with pytest.raises(GateRefused, match="insufficient_data"):
        require_live_verdict(live["client"], live["name"], live["candidate"], 3600)


def test_require_live_refuses_without_a_verdict_and_a_stale_one(live, mlops):
    live["setup"]("shadow")
    client, name, version = live["client"], live["name"], live["candidate"]
    with pytest.raises(GateRefused, match="has no live verdict"):
        require_live_verdict(client, name, version, 3600)
    out = mlops("promote", "--require-live", "--json")
    assert out.exit_code == 3 and "has no live verdict" in out.json["error"]

    old = (datetime.now(UTC) - timedelta(hours=30)).isoformat()
    for key, value in ((TAG_VERDICT, "pass"), (TAG_RUN, "r1"), (TAG_TIME, old),
                       (TAG_CHAMPION, live["champion"])):  # fmt: skip
        client.set_model_version_tag(name, version, key, value)
    with pytest.raises(GateRefused, match=r"30\.0 h old, older than the policy's 24 h"):
        require_live_verdict(client, name, version, 24 * 3600)
    assert require_live_verdict(client, name, version, 31 * 3600)[TAG_RUN] == "r1"
    with pytest.raises(GateRefused, match="but the champion is version 99"):
        require_live_verdict(client, name, version, 31 * 3600, champion="99")


def test_a_bad_live_block_is_named(live):
    from mlops_core.errors import BadInput
    from mlops_core.live_verdict import load_live_config

    policy = live["setup"]("shadow", max_degradation=-1)
    with pytest.raises(BadInput, match=r"live\.max_degradation"):
        load_live_config(policy)
    with pytest.raises(BadInput, match=r"live\.max_degradation"):
        run(policy)
    with pytest.raises(BadInput, match=r"live\.metric 'roc_auc' is not a regression metric"):
        run(live["setup"]("shadow", metric="roc_auc"))


def test_a_classifier_s_shadow_pairs_classes_and_judges_roc_auc(live, tmp_path):
    """A classification model (versions registered without artifacts: the comparison reads
    the log and the registry only): same-class agreement, ROC AUC per side from the logged
    probabilities, and a shadow whose probabilities carry no signal fails on it."""
    from registered import CLASSES, classifier_folder, customers

    from mlops_core.schema import load_schema
    from model_monitoring.compare import Options, compare

    client, name = live["client"], f"churn-{uuid.uuid4().hex[:6]}"
    folder = classifier_folder(live["folder"].parent, name)
    v1, v2 = versions(client, name)
    client.set_registered_model_alias(name, "champion", v1)
    client.set_registered_model_alias(name, "shadow", v2)
    policy = tmp_path / "clf.yaml"
    text = yaml.safe_load((folder / "monitor.yaml").read_text())
    text["live"] = {"min_rows": 100, "min_labelled_rows": 100, "max_disagreement": None}
    policy.write_text(yaml.safe_dump(text))

    schema = load_schema(folder / "schema.yaml")
    frame = customers(schema, 300, seed=5)
    truth = frame[schema.label.name].to_numpy(object)
    rng = np.random.default_rng(5)
    informed = np.clip(np.where(truth == "yes", 0.75, 0.25) + rng.normal(0, 0.15, 300), 0, 1)
    blind = rng.random(300)
    records = json.loads(frame[schema.feature_names].to_json(orient="records"))
    start = datetime.now(UTC) - timedelta(minutes=1)
    rows, feedback = [], []
    for i, record in enumerate(records):
        for version, role, suffix, p in ((v1, "champion", "", informed[i]),
                                         (v2, "shadow", ":shadow", blind[i])):  # fmt: skip
            rows.append({"request_id": f"q{i}-{name}{suffix}", "model_name": name,
                         "created_at": start + timedelta(milliseconds=i),
                         "model_version": str(version), "features": record, "prediction": None,
                         "predicted_class": CLASSES[int(p >= 0.5)], "latency_ms": 1.0,
                         "probabilities": {"no": 1 - p, "yes": p}, "role": role})  # fmt: skip
        feedback.append({"request_id": f"q{i}-{name}", "label": None,
                         "label_class": str(truth[i]), "created_at": start})  # fmt: skip
    with live["engine"].begin() as conn:
        predlog.write_rows(conn, rows, feedback)

    result = compare(Options(model=name, policy=str(policy)))
    assert result.task == "classification" and result.agreement.pairs == 300
    expected = np.mean((informed >= 0.5) == (blind >= 0.5))
    assert result.agreement.agreement == pytest.approx(expected)
    assert result.degradation.metric == "roc_auc" and result.degradation.paired
    assert result.champion.value > 0.8 and result.candidate.value < 0.65
    assert result.verdict == "fail" and result.degradation.interval[0] > 0.05
    assert result.champion.metrics["accuracy"] > result.candidate.metrics["accuracy"]
    tags = client.get_model_version(name, v2).tags
    assert tags[TAG_VERDICT] == "fail" and tags[TAG_CHAMPION] == str(v1)
