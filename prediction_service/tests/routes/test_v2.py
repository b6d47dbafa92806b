"""The Open Inference Protocol (V2) routes against real `mlops serve` processes: requests
shaped as the protocol's specification shows them (an input per feature, as KServe's and
MLServer's DataFrame codecs send a table, or one 2-D input), each answer checked against
/v1's for the same rows, every fault a 400 naming the input, and the log rows written.

The shared server (the session's regressor, no key needed) takes most tests; one server of
this module serves a classifier beside it with an API key required (classification
outputs, several models, auth)."""

from __future__ import annotations

import json
import uuid

import classifier_helpers as ch
import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from serve_helpers import (
    API_KEY,
    DATATYPE,
    count_ids,
    per_feature,
    table,
    v2_faults,
    wait_for_rows,
)

from mlops_core import predlog


def tag() -> str:
    return f"v2-{uuid.uuid4().hex[:10]}"


def log_rows(url: str, ids: list[str]) -> dict[str, sa.Row]:
    engine = predlog.create_engine(url)
    try:
        with engine.connect() as conn:
            p = predlog.predictions
            rows = conn.execute(sa.select(p).where(p.c.request_id.in_(ids))).all()
    finally:
        engine.dispose()
    return {r.request_id: r for r in rows}


# -- health, metadata, readiness --------------------------------------------------------
def test_health_and_server_metadata(client):
    live = client.get("/v2/health/live")
    assert live.status_code == 200 and live.json() == {"live": True}
    assert live.headers["x-request-id"]
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    for path in ("/v2", "/v2/"):
        meta = client.get(path)
        assert meta.status_code == 200, path
        assert meta.json() == {
            "name": "mlops-prediction-service",
            "version": meta.json()["version"],
            "extensions": [],
        }
        assert meta.json()["version"]


def test_model_metadata_names_every_feature_with_its_datatype(client, trained_model, schema):
    name, version = trained_model.model_name, trained_model.version
    r = client.get(f"/v2/models/{name}")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": name,
        "versions": [version],
        "platform": "sklearn",
        "inputs": [
            {"name": c.name, "datatype": DATATYPE[c.dtype], "shape": [-1]} for c in schema.features
        ],
        "outputs": [{"name": "predict", "datatype": "FP64", "shape": [-1]}],
    }
    assert r.headers["x-model-version"] == version
    assert client.get(f"/v2/models/{name}/versions/{version}").json() == r.json()
    ready = client.get(f"/v2/models/{name}/ready")
    assert ready.status_code == 200 and ready.json() == {"name": name, "ready": True}
    assert client.get(f"/v2/models/{name}/versions/{version}/ready").json()["ready"] is True


def test_unknown_model_or_version_is_a_404_with_the_protocol_error(
    client, trained_model, schema, records
):
    name = trained_model.model_name
    body = per_feature(schema, records[:1])
    for method, path in (
        ("GET", "/v2/models/nope"),
        ("GET", "/v2/models/nope/ready"),
        ("GET", "/v2/models/nope/versions/1"),
        ("GET", "/v2/models/nope/versions/1/ready"),
        ("POST", "/v2/models/nope/infer"),
        ("POST", "/v2/models/nope/versions/1/infer"),
    ):
        r = client.request(method, path, json=body if method == "POST" else None)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"] == f"unknown model 'nope': this service serves {name}"
    for method, path in (
        ("GET", f"/v2/models/{name}/versions/999"),
        ("GET", f"/v2/models/{name}/versions/999/ready"),
        ("POST", f"/v2/models/{name}/versions/999/infer"),
    ):
        r = client.request(method, path, json=body if method == "POST" else None)
        assert r.status_code == 404, (path, r.text)
        error = r.json()["error"]
        assert "no version '999'" in error and trained_model.version in error, error


# -- inference --------------------------------------------------------------------------
def test_the_specifications_request_answers_as_v1_and_is_logged(
    client, trained_model, schema, records, log_url
):
    name, version = trained_model.model_name, trained_model.version
    prefix = tag()
    rid = f"{prefix}-1"
    body = per_feature(schema, records[:1], id="42", outputs=[{"name": "predict"}])
    r = client.post(f"/v2/models/{name}/infer", json=body, headers={"X-Request-ID": rid})
    assert r.status_code == 200, r.text
    answer = r.json()
    v1 = client.post(f"/v1/models/{name}/predict", json=records[0]).json()
    assert answer == {
        "model_name": name,
        "model_version": version,
        "id": "42",
        "parameters": {"request_id": rid},
        "outputs": [
            {"name": "predict", "datatype": "FP64", "shape": [1], "data": [v1["prediction"]]}
        ],
    }
    assert r.headers["x-request-id"] == rid and r.headers["x-model-version"] == version
    # The versioned route answers the same; a request without an id gets the request id.
    plain = per_feature(schema, records[:1])
    again = client.post(f"/v2/models/{name}/versions/{version}/infer", json=plain).json()
    assert again["id"] == again["parameters"]["request_id"] != rid
    assert again["outputs"] == answer["outputs"]
    assert wait_for_rows(log_url, prefix, 1) == 1
    row = log_rows(log_url, [rid])[rid]
    assert row.features == {k: records[0][k] for k in schema.feature_names}
    assert row.prediction == pytest.approx(v1["prediction"])
    assert row.model_name == name and row.model_version == version and row.role == "champion"


@pytest.mark.parametrize(
    "shape",
    ["flat [N]", "flat [N, 1]", "nested [N, 1]", "table nested", "table flat", "table as text"],
)
def test_many_rows_answer_as_v1_batch_one_log_row_each(
    client, trained_model, schema, records, log_url, shape
):
    name = trained_model.model_name
    rows = records[10:40]
    body = {
        "flat [N]": lambda: per_feature(schema, rows),
        "flat [N, 1]": lambda: per_feature(schema, rows, column=True),
        "nested [N, 1]": lambda: per_feature(schema, rows, column=True, nested=True),
        "table nested": lambda: table(schema, rows),
        "table flat": lambda: table(schema, rows, nested=False),
        "table as text": lambda: table(schema, rows, text=True),
    }[shape]()
    rid = tag()
    r = client.post(f"/v2/models/{name}/infer", json=body, headers={"X-Request-ID": rid})
    assert r.status_code == 200, r.text
    (out,) = r.json()["outputs"]
    assert out["name"] == "predict" and out["datatype"] == "FP64" and out["shape"] == [30]
    v1 = client.post(f"/v1/models/{name}/predict/batch", json={"records": rows}).json()
    assert out["data"] == pytest.approx(v1["predictions"], rel=1e-12)
    assert wait_for_rows(log_url, rid, 30) == 30
    logged = log_rows(log_url, [f"{rid}-{i}" for i in range(30)])
    assert logged[f"{rid}-7"].features == {k: rows[7][k] for k in schema.feature_names}
    assert logged[f"{rid}-7"].prediction == pytest.approx(out["data"][7])


def test_inputs_in_any_order_and_category_spelling_normalised(
    client, trained_model, schema, records
):
    name = trained_model.model_name
    body = per_feature(schema, records[:3])
    body["inputs"].reverse()
    base = client.post(f"/v2/models/{name}/infer", json=body).json()["outputs"][0]["data"]
    for tensor in body["inputs"]:
        if tensor["datatype"] == "BYTES":
            tensor["data"] = [f"  {v.upper()} " for v in tensor["data"]]
    r = client.post(f"/v2/models/{name}/infer", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == pytest.approx(base)
    v1 = client.post(f"/v1/models/{name}/predict/batch", json={"records": records[:3]}).json()
    assert base == pytest.approx(v1["predictions"], rel=1e-12)


def test_every_bad_request_is_a_400_naming_the_input_and_logs_nothing(
    client, trained_model, schema, records, log_url
):
    name = trained_model.model_name
    prefix = tag()
    cases = v2_faults(schema, records)
    for i, (description, body, named, text) in enumerate(cases):
        r = client.post(
            f"/v2/models/{name}/infer", json=body, headers={"X-Request-ID": f"{prefix}-{i}"}
        )
        assert r.status_code == 400, (description, r.text)
        error = r.json()["error"]
        assert repr(named) in error or named in error, (description, error)
        assert text in error, (description, error)
        assert r.json()["request_id"] == f"{prefix}-{i}"
    for content in (b"{", b'{"inputs": NaN}', b""):
        r = client.post(f"/v2/models/{name}/infer", content=content)
        assert r.status_code == 400 and "malformed JSON" in r.json()["error"], content
    # A valid request after them is logged; none of them was.
    ok = client.post(
        f"/v2/models/{name}/infer",
        json=per_feature(schema, records[:1]),
        headers={"X-Request-ID": f"{prefix}-ok"},
    )
    assert ok.status_code == 200
    assert wait_for_rows(log_url, prefix, 1) == 1
    assert count_ids(log_url, prefix) == 1


def test_too_many_rows_is_a_413(client, trained_model, schema, records):
    rows = (records * 2)[:2001]  # the shared server allows 2000
    r = client.post(f"/v2/models/{trained_model.model_name}/infer", json=table(schema, rows))
    assert r.status_code == 413 and "2000" in r.json()["error"]


def test_metrics_count_v2_routes_and_rows(client, trained_model, schema, records):
    name, version = trained_model.model_name, trained_model.version
    client.post(f"/v2/models/{name}/infer", json=per_feature(schema, records[:1]))
    client.post(f"/v2/models/{name}/versions/{version}/infer", json=table(schema, records[:3]))
    text = client.get("/metrics").text
    assert f'endpoint="/v2/models/{name}/infer",method="POST",status="200"' in text
    assert (
        f'endpoint="/v2/models/{name}/versions/{{version}}/infer",method="POST",status="200"'
    ) in text
    for kind in ("single", "batch"):
        assert (
            f'mlops_predictions_total{{kind="{kind}",model_name="{name}",'
            f'model_version="{version}",role="champion"}}'
        ) in text


def test_the_document_describes_the_requests_it_accepts(client, trained_model, schema, records):
    """The documented request (one row, both forms) validates the bodies these tests send,
    and refuses a wrong one (the schemathesis run fuzzes it further)."""
    from jsonschema import Draft202012Validator

    from prediction_service.schemas import component_prefix

    name = trained_model.model_name
    doc = client.get("/openapi.json").json()
    op = doc["paths"][f"/v2/models/{name}/infer"]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    component = f"{component_prefix(name)}InferenceRequest"
    assert ref == f"#/components/schemas/{component}"
    assert {"200", "400", "413"} <= set(op["responses"])
    assert f"/v2/models/{name}/versions/{{version}}/infer" in op["description"]
    for path in ("/v2/health/live", "/v2/health/ready", "/v2", f"/v2/models/{name}"):
        assert path in doc["paths"], path
    validator = Draft202012Validator(doc["components"]["schemas"][component])
    one = records[:1]
    for body in (
        per_feature(schema, one, id="42"),
        per_feature(schema, one, column=True, nested=True),
        table(schema, one),
        table(schema, one, nested=False),
    ):
        validator.validate(body)
    wrong = per_feature(schema, one)
    wrong["inputs"][0]["datatype"] = "BOOL"
    assert not validator.is_valid(wrong)


# -- a classifier beside the regressor, API key required ---------------------------------
@pytest.fixture(scope="module")
def keyed(start_server, tmp_path_factory, trained_model, make_model_folder):
    """A server of the session's regressor and a three-class classifier of this module
    (an MLflow model folder saved here: no registry round trip), an API key required."""
    import mlflow
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    tmp = tmp_path_factory.mktemp("v2-models")
    models_dir = tmp / "models"
    make_model_folder(models_dir, trained_model.model_name)
    name = f"churn-{uuid.uuid4().hex[:6]}"
    schema = ch.load(ch.write_folder(models_dir, name, classes=("yes", "no", "maybe")))
    X, y = ch.frame(schema, 600, seed=1)
    pipe = ch.pipeline(schema, LogisticRegression(max_iter=500)).fit(X, y)
    mlflow.sklearn.save_model(
        pipe,
        tmp / "classifier",
        serialization_format="skops",
        skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(pipe)),
    )
    server = start_server(
        {
            "MLOPS_MODELS_DIR": str(models_dir),
            "MLOPS_SERVE_API_KEYS": API_KEY,
            "MLOPS_SERVE_MAX_BATCH": "50",
        },
        ["--model", trained_model.model_name, "--model", f"{name}={tmp / 'classifier'}"],
    )
    with httpx.Client(
        base_url=server.url, timeout=30, headers={"X-API-Key": API_KEY}
    ) as keyed_client:
        yield {
            "server": server,
            "client": keyed_client,
            "name": name,
            "version": "local",
            "schema": schema,
            "pipe": pipe,
            "log": f"sqlite:///{server.home / 'predictions.db'}",
        }


def _rows(schema, n):
    X, _ = ch.frame(schema, n, seed=5)
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in X.to_dict("records")
    ]


def test_classifier_outputs_the_class_and_its_probabilities(keyed):
    client, name, schema = keyed["client"], keyed["name"], keyed["schema"]
    rows = _rows(schema, 12)
    rid = tag()
    r = client.post(
        f"/v2/models/{name}/infer", json=per_feature(schema, rows), headers={"X-Request-ID": rid}
    )
    assert r.status_code == 200, r.text
    predicted, proba = r.json()["outputs"]
    assert predicted == {
        "name": "predict",
        "datatype": "BYTES",
        "shape": [12],
        "data": predicted["data"],
    }
    assert proba["name"] == "predict_proba" and proba["datatype"] == "FP64"
    assert proba["shape"] == [12, 3]
    classes = json.loads(proba["parameters"]["classes"])
    assert classes == list(schema.classes)
    v1 = client.post(f"/v1/models/{name}/predict/batch", json={"records": rows}).json()
    assert predicted["data"] == v1["predictions"]
    for i, probabilities in enumerate(v1["probabilities"]):
        row = proba["data"][3 * i : 3 * i + 3]
        assert row == pytest.approx([probabilities[c] for c in classes], rel=1e-12)
        assert sum(row) == pytest.approx(1.0)
    assert predicted["data"] == keyed["pipe"].predict(pd.DataFrame(rows)).tolist()
    # Only the probabilities, as asked; one row joins the micro-batcher and is logged alone.
    one = per_feature(schema, rows[:1], outputs=[{"name": "predict_proba"}])
    r = client.post(f"/v2/models/{name}/infer", json=one, headers={"X-Request-ID": f"{rid}-one"})
    assert [o["name"] for o in r.json()["outputs"]] == ["predict_proba"]
    assert wait_for_rows(keyed["log"], rid, 13) == 13
    logged = log_rows(keyed["log"], [f"{rid}-0", f"{rid}-one"])
    assert logged[f"{rid}-0"].predicted_class == predicted["data"][0]
    assert logged[f"{rid}-one"].probabilities == pytest.approx(v1["probabilities"][0])
    meta = client.get(f"/v2/models/{name}").json()
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "BYTES", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
    ]
    assert meta["versions"] == [keyed["version"]]


def test_both_models_answer_on_their_own_routes(keyed, trained_model, schema, records):
    client = keyed["client"]
    ready = client.get(f"/v2/models/{keyed['name']}/ready").json()
    assert ready == {"name": keyed["name"], "ready": True}
    r = client.post(f"/v2/models/{trained_model.model_name}/infer", json=table(schema, records[:2]))
    assert r.status_code == 200 and r.json()["outputs"][0]["shape"] == [2]
    # One model's inputs are not the other's.
    wrong = client.post(f"/v2/models/{keyed['name']}/infer", json=per_feature(schema, records[:1]))
    assert wrong.status_code == 400 and "not features of model" in wrong.json()["error"]
    error = client.get("/v2/models/nope").json()["error"]
    assert keyed["name"] in error and trained_model.model_name in error
    too_many = client.post(
        f"/v2/models/{keyed['name']}/infer",
        json=per_feature(keyed["schema"], _rows(keyed["schema"], 51)),
    )
    assert too_many.status_code == 413 and "50" in too_many.json()["error"]


def test_metadata_and_inference_need_the_key_health_does_not(keyed):
    name, schema = keyed["name"], keyed["schema"]
    body = per_feature(schema, _rows(schema, 1))
    with httpx.Client(base_url=keyed["server"].url, timeout=30) as anonymous:
        for method, path in (
            ("GET", f"/v2/models/{name}"),
            ("GET", f"/v2/models/{name}/versions/{keyed['version']}"),
            ("POST", f"/v2/models/{name}/infer"),
            ("POST", f"/v2/models/{name}/versions/{keyed['version']}/infer"),
            ("POST", "/v2/models/nope/infer"),
        ):
            kwargs = {"json": body} if method == "POST" else {}
            missing = anonymous.request(method, path, **kwargs)
            assert missing.status_code == 401, (path, missing.text)
            assert "error" in missing.json()
            wrong = anonymous.request(method, path, headers={"X-API-Key": "nope"}, **kwargs)
            assert wrong.status_code == 403, (path, wrong.text)
        # What a kubelet or a client's wait-for-ready loop calls, without credentials.
        for path in (
            "/v2/health/live",
            "/v2/health/ready",
            "/v2",
            f"/v2/models/{name}/ready",
            f"/v2/models/{name}/versions/{keyed['version']}/ready",
        ):
            assert anonymous.get(path).status_code == 200, path
        doc = anonymous.get("/openapi.json").json()
    assert doc["paths"][f"/v2/models/{name}/infer"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in doc["paths"][f"/v2/models/{name}/ready"]["get"]
    assert "security" not in doc["paths"]["/v2/health/ready"]["get"]
