"""One `mlops serve` process serving two models: the session's trained regressor and a
classifier registered here (a scikit-learn pipeline logged with mlflow.sklearn.log_model,
alias champion). Started with no --model: every model folder with a champion is served."""

from __future__ import annotations

import time
import uuid

import classifier_helpers as ch
import httpx
import pandas as pd
import pytest
from serve_helpers import API_KEY

from mlops_core import predlog


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, trained_model, make_model_folder):
    """A models folder with the trained regressor's folder and a classifier's."""
    from sklearn.linear_model import LogisticRegression

    models_dir = tmp_path_factory.mktemp("two-models")
    make_model_folder(models_dir, trained_model.model_name)
    name = f"churn-{uuid.uuid4().hex[:6]}"
    schema = ch.load(ch.write_folder(models_dir, name))
    version, pipe = ch.register(
        trained_model.tracking_uri, schema, LogisticRegression(max_iter=500)
    )
    return {
        "dir": models_dir,
        "regressor": trained_model.model_name,
        "classifier": name,
        "classifier_version": version,
        "classifier_schema": schema,
        "pipe": pipe,
    }


@pytest.fixture(scope="module")
def many(start_server, two_models):
    return start_server(
        {
            "MLOPS_MODELS_DIR": str(two_models["dir"]),
            "MLOPS_MODEL": "",  # no default model: serve every model with a champion
            "MLOPS_SERVE_API_KEYS": API_KEY,
            "MLOPS_SERVE_REQUIRE_KEY": "false",
            "MLOPS_SERVE_MAX_BATCH": "500",
        }
    )


@pytest.fixture(scope="module")
def client(many):
    with httpx.Client(base_url=many.url, timeout=30) as c:
        yield c


def _records(schema, n, seed=11):
    X, _ = ch.frame(schema, n, seed=seed)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in X.to_dict("records")
    ]


def test_both_models_are_listed_and_ready(client, two_models, trained_model):
    listed = client.get("/v1/models").json()["models"]
    by_name = {m["name"]: m for m in listed}
    assert set(by_name) == {two_models["regressor"], two_models["classifier"]}
    assert by_name[two_models["regressor"]]["task"] == "regression"
    assert by_name[two_models["regressor"]]["model_version"] == trained_model.version
    assert by_name[two_models["classifier"]]["task"] == "classification"
    assert by_name[two_models["classifier"]]["model_version"] == two_models["classifier_version"]
    assert by_name[two_models["classifier"]]["url"] == (
        f"/v1/models/{two_models['classifier']}/predict"
    )
    ready = client.get("/v1/health/ready")
    assert ready.status_code == 200
    assert ready.json()["models"] == {
        two_models["regressor"]: trained_model.version,
        two_models["classifier"]: two_models["classifier_version"],
    }


def test_classifier_answers_class_and_probabilities(client, two_models):
    name, schema, pipe = (
        two_models["classifier"],
        two_models["classifier_schema"],
        two_models["pipe"],
    )
    records = _records(schema, 40)
    frame = pd.DataFrame(records)[schema.feature_names]
    expected = pipe.predict_proba(frame)
    labels = pipe.predict(frame)
    columns = [str(c) for c in pipe.classes_]
    for i in (0, 1, 2):
        r = client.post(f"/v1/models/{name}/predict", json=records[i])
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {
            "request_id",
            "prediction",
            "probabilities",
            "model_name",
            "model_version",
        }
        assert body["model_name"] == name
        assert body["model_version"] == two_models["classifier_version"]
        assert r.headers["x-model-version"] == body["model_version"]
        assert r.headers["x-model-name"] == name
        assert body["prediction"] == labels[i] and body["prediction"] in schema.classes
        assert list(body["probabilities"]) == list(schema.classes)
        assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
        assert [body["probabilities"][c] for c in columns] == pytest.approx(expected[i].tolist())
    batch = client.post(f"/v1/models/{name}/predict/batch", json={"records": records}).json()
    assert len(batch["predictions"]) == len(batch["probabilities"]) == len(records)
    assert batch["predictions"] == labels.tolist()
    for probabilities in batch["probabilities"]:
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-9)
    info = client.get(f"/v1/models/{name}").json()
    assert info["task"] == "classification" and info["classes"] == list(schema.classes)
    assert info["fast_path"] is True, info["fast_path_reason"]
    assert info["role"] == "champion" and info["data_version"] == "data-v1"


def test_regressor_answers_on_its_own_routes(client, two_models, trained_model, records, schema):
    import mlflow

    name = two_models["regressor"]
    mlflow.set_tracking_uri(trained_model.tracking_uri)
    model = mlflow.sklearn.load_model(trained_model.model_uri)
    r = client.post(f"/v1/models/{name}/predict", json=records[0])
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"request_id", "prediction", "model_name", "model_version"}
    expected = model.predict(pd.DataFrame([records[0]])[schema.feature_names])[0]
    assert body["prediction"] == pytest.approx(float(expected))
    batch = client.post(f"/v1/models/{name}/predict/batch", json={"records": records[:20]})
    assert batch.status_code == 200 and len(batch.json()["predictions"]) == 20
    info = client.get(f"/v1/models/{name}").json()
    assert info["task"] == "regression" and info["classes"] is None
    assert info["model_version"] == trained_model.version
    # The other model's records are refused by this model's schema.
    wrong = client.post(
        f"/v1/models/{name}/predict", json=_records(two_models["classifier_schema"], 1)[0]
    )
    assert wrong.status_code == 422


def test_unknown_model_and_single_routes_name_the_served_models(client, two_models, records):
    served = (two_models["regressor"], two_models["classifier"])
    for method, path, kwargs in (
        ("POST", "/v1/models/nope/predict", {"json": records[0]}),
        ("POST", "/v1/models/nope/predict/batch", {"json": {"records": records[:1]}}),
        ("POST", "/v1/models/nope/feedback", {"json": {"request_id": "x", "label": 1.0}}),
        ("GET", "/v1/models/nope", {}),
    ):
        r = client.request(method, path, **kwargs)
        assert r.status_code == 404, (path, r.text)
        message = r.json()["error"]
        assert "unknown model 'nope'" in message
        assert all(name in message for name in served), message
    # With two models the single-model routes say where to go.
    r = client.post("/v1/predict", json=records[0])
    assert r.status_code == 404
    assert "/v1/models/{name}/predict" in r.json()["error"]
    assert all(name in r.json()["error"] for name in served)
    assert client.get("/v1/model").status_code == 404


def test_openapi_has_each_models_schemas(client, two_models, schema):
    from prediction_service.schemas import component_prefix

    doc = client.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    reg, clf = two_models["regressor"], two_models["classifier"]
    rp, cp = component_prefix(reg), component_prefix(clf)
    assert components[f"{rp}Features"]["required"] == schema.feature_names
    assert components[f"{cp}Features"]["required"] == ["tenure", "monthly", "contract"]
    predicted = components[f"{cp}PredictResponse"]["properties"]["prediction"]
    assert predicted["enum"] == ["yes", "no"]
    assert "probabilities" in components[f"{cp}PredictResponse"]["required"]
    assert components[f"{rp}PredictResponse"]["properties"]["prediction"]["type"] == "number"
    assert components[f"{cp}FeedbackRequest"]["properties"]["label"]["enum"] == ["yes", "no"]
    for name, prefix in ((reg, rp), (clf, cp)):
        op = doc["paths"][f"/v1/models/{name}/predict"]["post"]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == f"#/components/schemas/{prefix}Features"
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ok == f"#/components/schemas/{prefix}PredictResponse"
        assert f"/v1/models/{name}/predict/batch" in doc["paths"]
        assert f"/v1/models/{name}/feedback" in doc["paths"]
        assert f"/v1/models/{name}" in doc["paths"]
    assert "/v1/models" in doc["paths"]
    # The single-model routes are not documented where they cannot answer.
    assert "/v1/predict" not in doc["paths"]
    assert not any("{name}" in path for path in doc["paths"] if "/admin/" not in path)


def test_feedback_takes_a_class_or_a_number(client, many, two_models, records):
    clf, reg = two_models["classifier"], two_models["regressor"]
    one = _records(two_models["classifier_schema"], 1, seed=5)[0]
    rid = f"fb-many-{uuid.uuid4().hex[:6]}"
    assert (
        client.post(
            f"/v1/models/{clf}/predict", json=one, headers={"X-Request-ID": rid}
        ).status_code
        == 200
    )
    ok = client.post(f"/v1/models/{clf}/feedback", json={"request_id": rid, "label": " YES"})
    assert ok.status_code == 202, ok.text
    bad = client.post(f"/v1/models/{clf}/feedback", json={"request_id": rid, "label": "maybe"})
    assert bad.status_code == 422
    assert "'maybe'" in bad.json()["error"] and "yes, no" in bad.json()["error"]
    assert bad.json()["detail"][0]["field"] == "label"
    number = client.post(f"/v1/models/{clf}/feedback", json={"request_id": rid, "label": 1.0})
    assert number.status_code == 422 and "yes, no" in number.json()["error"]
    # Another model's request id is not this model's to label.
    crossed = client.post(f"/v1/models/{reg}/feedback", json={"request_id": rid, "label": 1e5})
    assert crossed.status_code == 404
    rrid = f"fb-reg-{uuid.uuid4().hex[:6]}"
    client.post(f"/v1/models/{reg}/predict", json=records[0], headers={"X-Request-ID": rrid})
    assert (
        client.post(
            f"/v1/models/{reg}/feedback", json={"request_id": rrid, "label": "yes"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"/v1/models/{reg}/feedback", json={"request_id": rrid, "label": 250000.0}
        ).status_code
        == 202
    )
    engine = predlog.create_engine(f"sqlite:///{many.home / 'predictions.db'}")
    try:
        deadline = time.monotonic() + 30
        while True:
            rows = {
                r["request_id"]: r
                for name in (clf, reg)
                for r in predlog.read_predictions(engine, model_name=name)
            }
            if rows.get(rid, {}).get("label_class") and rows.get(rrid, {}).get("label"):
                break
            assert time.monotonic() < deadline, "feedback rows not written"
            time.sleep(0.2)
    finally:
        engine.dispose()
    assert rows[rid]["label_class"] == "yes" and rows[rid]["label"] is None
    assert rows[rrid]["label"] == 250000.0 and rows[rrid]["label_class"] is None


def test_log_rows_carry_model_role_and_class(client, many, two_models, records):
    clf, reg = two_models["classifier"], two_models["regressor"]
    tag = uuid.uuid4().hex[:6]
    crecords = _records(two_models["classifier_schema"], 30, seed=9)
    for i in range(5):
        client.post(
            f"/v1/models/{clf}/predict", json=crecords[i], headers={"X-Request-ID": f"c{tag}-{i}"}
        )
        client.post(
            f"/v1/models/{reg}/predict", json=records[i], headers={"X-Request-ID": f"r{tag}-{i}"}
        )
    batch = client.post(f"/v1/models/{clf}/predict/batch", json={"records": crecords}).json()
    engine = predlog.create_engine(f"sqlite:///{many.home / 'predictions.db'}")
    try:
        deadline = time.monotonic() + 30
        while True:
            mine = predlog.read_predictions(engine, model_name=clf)
            theirs = predlog.read_predictions(engine, model_name=reg)
            ids = {r["request_id"] for r in mine}
            if {f"c{tag}-{i}" for i in range(5)} | set(batch["request_ids"]) <= ids and len(
                [r for r in theirs if r["request_id"].startswith(f"r{tag}-")]
            ) == 5:
                break
            assert time.monotonic() < deadline, "log rows not written"
            time.sleep(0.2)
    finally:
        engine.dispose()
    assert {r["model_name"] for r in mine} == {clf}
    assert {r["model_name"] for r in theirs} == {reg}
    assert not ids & {r["request_id"] for r in theirs}
    row = next(r for r in mine if r["request_id"] == f"c{tag}-0")
    assert row["prediction"] is None and row["predicted_class"] in ("yes", "no")
    assert sum(row["probabilities"].values()) == pytest.approx(1.0)
    assert row["role"] == "champion" and row["model_version"] == two_models["classifier_version"]
    assert set(row["features"]) == {"tenure", "monthly", "contract"}
    reg_row = next(r for r in theirs if r["request_id"] == f"r{tag}-0")
    assert reg_row["prediction"] > 0 and reg_row["predicted_class"] is None
    assert reg_row["probabilities"] is None and reg_row["role"] == "champion"


def test_admin_reload_per_model(client, two_models):
    clf = two_models["classifier"]
    path = f"/v1/admin/models/{clf}/reload"
    assert client.post(path).status_code == 401
    r = client.post(path, headers={"X-API-Key": API_KEY})
    assert r.status_code == 200, r.text
    assert r.json()["model_name"] == clf
    assert r.json()["model_version"] == two_models["classifier_version"]
    assert (
        client.post("/v1/admin/models/nope/reload", headers={"X-API-Key": API_KEY}).status_code
        == 404
    )
    # A models:/ URI in the body of the service-wide reload picks its model.
    uri = f"models:/{clf}/{two_models['classifier_version']}"
    r = client.post("/v1/admin/reload", json={"model": uri}, headers={"X-API-Key": API_KEY})
    assert r.status_code == 200 and r.json()["model_name"] == clf
    # Without a body, every model reloads.
    r = client.post("/v1/admin/reload", headers={"X-API-Key": API_KEY})
    assert r.status_code == 200
    assert {m["model_name"] for m in r.json()["models"]} == {clf, two_models["regressor"]}


def test_the_traffic_client_talks_to_one_model(many, two_models):
    from mlops_core.traffic import PredictionClient

    clf = two_models["classifier"]
    schema = two_models["classifier_schema"]
    X, y = ch.frame(schema, 60, seed=21)
    records = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in X.to_dict("records")
    ]
    with PredictionClient(many.url, headers={}, model=clf) as client:
        assert {m["name"] for m in client.models()} == {clf, two_models["regressor"]}
        assert client.served_version() == two_models["classifier_version"]
        report = client.send(records, list(y), single=10, batch_size=25, feedback_share=0.5)
    assert report.predictions == 60 and report.failed_requests == 0
    assert report.model_versions == [two_models["classifier_version"]]
    assert report.feedback > 10
