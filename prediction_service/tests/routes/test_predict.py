"""POST /v1/predict and /v1/predict/batch against a real `mlops serve` (uvicorn) serving a
model from the real registry."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from serve_helpers import burst, count_ids, wait_for_rows

from mlops_core import predlog


def test_predict_one_record(client, records, trained_model):
    r = client.post("/v1/predict", json=records[0])
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"request_id", "prediction", "model_name", "model_version"}
    assert body["model_name"] == trained_model.model_name
    assert body["model_version"] == trained_model.version  # the champion
    assert body["prediction"] > 0
    assert r.headers["x-request-id"] == body["request_id"]
    assert r.headers["x-model-version"] == body["model_version"]


def test_client_request_id_is_echoed(client, records):
    r = client.post("/v1/predict", json=records[1], headers={"X-Request-ID": "client-id-1"})
    assert r.json()["request_id"] == "client-id-1"
    assert r.headers["x-request-id"] == "client-id-1"
    # An id that is not a plain token is replaced by a fresh one.
    r = client.post("/v1/predict", json=records[1], headers={"X-Request-ID": "bad id!"})
    assert r.json()["request_id"] != "bad id!"


def test_category_spelling_is_normalised(client, records, schema):
    record = dict(records[2])
    base = client.post("/v1/predict", json=record).json()["prediction"]
    for name in schema.categorical_features:
        record[name] = f"  {record[name].upper()} "
    r = client.post("/v1/predict", json=record)
    assert r.status_code == 200, r.text
    assert r.json()["prediction"] == pytest.approx(base)


def test_batch_matches_single_predictions(client, records):
    batch = records[:50]
    r = client.post("/v1/predict/batch", json={"records": batch})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["predictions"]) == len(body["request_ids"]) == 50
    assert body["request_ids"][3] == f"{body['request_id']}-3"
    singles = [client.post("/v1/predict", json=rec).json()["prediction"] for rec in batch[:5]]
    assert body["predictions"][:5] == pytest.approx(singles)


def _bad_cases(schema, record):
    """(description, body, field, rule) for every kind of invalid field."""
    cases = []
    for column in schema.features:
        name = column.name
        missing = {k: v for k, v in record.items() if k != name}
        cases.append((f"{name} missing", missing, name, "missing"))
        if column.dtype == "category":
            cases.append(
                (f"{name} unknown", {**record, name: "no-such-value"}, name, "literal_error")
            )
            cases.append((f"{name} number", {**record, name: 3}, name, "literal_error"))
        else:
            if column.min is not None:
                cases.append(
                    (f"{name} below", {**record, name: column.min - 1}, name, "greater_than_equal")
                )
            if column.max is not None:
                cases.append(
                    (f"{name} above", {**record, name: column.max + 1}, name, "less_than_equal")
                )
            cases.append((f"{name} text", {**record, name: "many"}, name, "_type"))
            cases.append((f"{name} numeric text", {**record, name: "2"}, name, "_type"))
            cases.append((f"{name} boolean", {**record, name: False}, name, "_type"))
            cases.append((f"{name} null", {**record, name: None}, name, "_type"))
            if column.dtype == "int":
                cases.append((f"{name} fraction", {**record, name: 1.5}, name, "int_from_float"))
    cases.append(
        ("extra field", {**record, "not_a_feature": 1}, "not_a_feature", "extra_forbidden")
    )
    return cases


def test_every_invalid_field_gets_422_naming_field_and_rule(client, records, schema):
    cases = _bad_cases(schema, records[0])
    assert len(cases) > 3 * len(schema.features)
    for description, body, field, rule in cases:
        r = client.post("/v1/predict", json=body)
        assert r.status_code == 422, (description, r.text)
        payload = r.json()
        assert payload["request_id"] == r.headers["x-request-id"]
        assert payload["model_version"]
        fields = {d["field"] for d in payload["detail"]}
        rules = {d["rule"] for d in payload["detail"]}
        assert field in fields, (description, payload)
        assert any(rule in x for x in rules), (description, payload)
        assert field in payload["error"]


def test_a_boolean_integer_is_refused_in_a_batch_too(client, records, schema):
    name = next(c.name for c in schema.features if c.dtype == "int")
    batch = [dict(r) for r in records[:3]]
    batch[1][name] = False
    r = client.post("/v1/predict/batch", json={"records": batch})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == [
        {
            "field": name,
            "loc": ["body", "records", 1, name],
            "rule": "int_type",
            "msg": "Input should be a valid integer",
        }
    ]


def test_whole_floats_are_integers(client, records, schema):
    record = dict(records[4])
    base = client.post("/v1/predict", json=record).json()["prediction"]
    for column in schema.features:
        if column.dtype == "int":
            record[column.name] = float(record[column.name])
    r = client.post("/v1/predict", json=record)
    assert r.status_code == 200, r.text
    assert r.json()["prediction"] == pytest.approx(base)


def test_invalid_record_in_batch_is_located(client, records, schema):
    column = schema.numeric_features[0]
    batch = [dict(r) for r in records[:10]]
    batch[7][column] = -1e12
    r = client.post("/v1/predict/batch", json={"records": batch})
    assert r.status_code == 422
    payload = r.json()
    assert payload["detail"][0]["loc"] == ["body", "records", 7, column]
    assert payload["detail"][0]["field"] == column
    assert f"record 7, field {column!r}" in payload["error"]


def test_the_summary_counts_every_wrong_field(client, records, schema):
    a, b = schema.numeric_features[:2]
    batch = [dict(r) for r in records[:10]]
    batch[2][a] = -1e12
    batch[5][a] = -1e12
    batch[5][b] = "many"
    r = client.post("/v1/predict/batch", json={"records": batch})
    assert r.status_code == 422
    payload = r.json()
    assert len(payload["detail"]) == 3
    assert payload["error"].startswith("invalid input: 3 fields are wrong in 2 records")
    assert f"record 2, field {a!r}" in payload["error"]
    single = {k: v for k, v in records[0].items() if k not in (a, b)}
    error = client.post("/v1/predict", json=single).json()["error"]
    assert error.startswith("invalid input: 2 fields are wrong (")
    assert a in error and b in error


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"a": }', b"not json", b"\xff\xfe", b'{"x": NaN}', b""],
    ids=["open", "missing-value", "text", "binary", "nan", "empty"],
)
def test_malformed_json_gets_400(client, content):
    for path in ("/v1/predict", "/v1/predict/batch", "/v1/feedback"):
        r = client.post(path, content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (path, r.text)
        assert "malformed JSON" in r.json()["error"]


@pytest.mark.parametrize("body", [b"[]", b"[1, 2]", b'"text"', b"3", b"null"])
def test_body_of_wrong_shape_gets_422(client, body):
    for path in ("/v1/predict", "/v1/predict/batch", "/v1/feedback"):
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (path, body, r.text)


def test_batch_shapes(client, records):
    assert client.post("/v1/predict/batch", json={"records": []}).status_code == 422
    r = client.post("/v1/predict/batch", json={"records": records[:2], "extra": 1})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "extra"
    assert client.post("/v1/predict/batch", json={"rows": records[:2]}).status_code == 422


def test_oversized_batch_gets_413(client, records):
    too_many = (records * 2)[:2001]  # the shared server allows 2000
    r = client.post("/v1/predict/batch", json={"records": too_many})
    assert r.status_code == 413
    assert "2000" in r.json()["error"]
    huge = b'{"records": [' + b"0," * 5_000_000 + b"0]}"
    r = client.post("/v1/predict/batch", content=huge)
    assert r.status_code == 413
    for path in ("/v1/predict", "/v1/feedback"):
        r = client.post(path, content=b'{"a": "' + b"x" * 10_000_000 + b'"}')
        assert r.status_code == 413, path
        assert "larger than" in r.json()["error"]


def test_unknown_path_and_method(client):
    r = client.get("/v1/nothing")
    assert r.status_code == 404
    assert r.json()["request_id"] == r.headers["x-request-id"]
    assert client.get("/v1/predict").status_code == 405


def test_log_holds_one_row_per_successful_request(client, server, records, log_url, schema):
    n = 600
    results = burst(server.url, records[:n], "burst", concurrency=24)
    ok = [body for status, body in results if status == 200]
    assert len(ok) == n
    assert wait_for_rows(log_url, "burst", n) == n
    # A retry with the same request id is not logged twice.
    again = burst(server.url, records[:20], "burst", concurrency=4)
    assert all(status == 200 for status, _ in again)
    assert wait_for_rows(log_url, "burst", n) == n
    time.sleep(1.0)
    assert count_ids(log_url, "burst") == n
    engine = predlog.create_engine(log_url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(predlog.predictions).where(predlog.predictions.c.request_id == "burst-5")
        ).one()
    engine.dispose()
    assert row.features == {k: records[5][k] for k in schema.feature_names}
    assert row.prediction == pytest.approx(ok[5]["prediction"])
    assert row.model_version == ok[5]["model_version"]
    assert row.latency_ms > 0


def test_batch_category_spelling_is_normalised(client, records, schema):
    """Bodies valid as sent take the one-pass path; the others are normalised first: both
    give the same predictions."""
    batch = [dict(r) for r in records[:20]]
    base = client.post("/v1/predict/batch", json={"records": batch}).json()["predictions"]
    for record in batch[::2]:
        for name in schema.categorical_features:
            record[name] = f" {record[name].title()}  "
    r = client.post("/v1/predict/batch", json={"records": batch})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == pytest.approx(base)
