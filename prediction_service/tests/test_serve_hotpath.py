"""hotpath.HotPath: the single-record predict routes answered ahead of FastAPI.

The service is built in process (runtime.build_service on the session's trained model) so
each answer can be compared with what the full FastAPI app answers for the same request,
and so the test sees which of the two answered.
"""

from __future__ import annotations

import functools
import time

import pytest
from fastapi import FastAPI
from serve_helpers import assert_fresh_uuid7, in_process, loosely_spelt, raw_headers, sample
from starlette.testclient import TestClient

KEY = "hot-path-key"


@pytest.fixture(scope="module")
def hot(trained_model, tmp_path_factory):
    service, app, reached = in_process(trained_model, tmp_path_factory.mktemp("hot-home"))
    # A server error is answered (500), as uvicorn answers it, not raised into the test.
    with TestClient(app, raise_server_exceptions=False) as client:
        # The full FastAPI app on its own, for the reference answers (the service is
        # already started by the client above: no second lifespan).
        full = TestClient(functools.partial(FastAPI.__call__, app), raise_server_exceptions=False)
        yield client, full, reached, service


def _routes(trained_model):
    return ["/v1/predict", f"/v1/models/{trained_model.model_name}/predict"]


def test_a_valid_record_is_answered_ahead_of_fastapi_with_the_full_apps_bytes(
    hot, records, trained_model
):
    client, full, reached, _ = hot
    for n, path in enumerate(_routes(trained_model)):
        rid = f"hot-{n}"
        reached.clear()
        fast = client.post(path, json=records[n], headers={"X-Request-ID": rid})
        assert fast.status_code == 200, fast.text
        assert reached == [], "the hot path handed a valid record to the full app"
        slow = full.post(path, json=records[n], headers={"X-Request-ID": rid})
        assert slow.status_code == 200, slow.text
        assert fast.content == slow.content
        assert raw_headers(fast) == raw_headers(slow)
        assert fast.json()["request_id"] == rid
        assert fast.headers["x-model-version"] == trained_model.version


def test_a_fresh_request_id_is_a_uuid7_that_grows_with_time(hot, records):
    client, *_ = hot
    before = time.time()
    first, second = (
        client.post("/v1/predict", json=records[0]).json()["request_id"] for _ in range(2)
    )
    assert_fresh_uuid7(first, before, time.time())
    # Time-ordered: the log's request-id index is appended to, not written at random.
    assert first < second
    # A client's id that is not a plain token is replaced, as the full app does.
    r = client.post("/v1/predict", json=records[0], headers={"X-Request-ID": "bad id!"})
    assert r.json()["request_id"] != "bad id!"
    assert_fresh_uuid7(r.json()["request_id"], before, time.time())


def _bad_bodies(record: dict, schema) -> list[tuple[str, bytes]]:
    first = schema.features[0].name
    missing = {k: v for k, v in record.items() if k != first}
    import orjson

    return [
        ("malformed JSON", b'{"area": 1,'),
        ("not an object", b"[1, 2]"),
        ("a field missing", orjson.dumps(missing)),
        ("a wrong type", orjson.dumps({**record, first: "many"})),
        ("an extra field", orjson.dumps({**record, "colour": "red"})),
        ("a category spelt loosely", orjson.dumps(loosely_spelt(record, schema))),
    ]


def test_what_the_one_pass_validation_refuses_is_the_full_apps_answer(
    hot, records, schema, trained_model
):
    client, full, reached, _ = hot
    for what, body in _bad_bodies(records[3], schema):
        for path in _routes(trained_model):
            headers = {"Content-Type": "application/json", "X-Request-ID": "bad-1"}
            reached.clear()
            fast = client.post(path, content=body, headers=headers)
            assert reached == [path], what
            slow = full.post(path, content=body, headers=headers)
            assert (fast.status_code, fast.content) == (slow.status_code, slow.content), what
            if what == "a category spelt loosely":
                assert fast.status_code == 200  # the detailed path normalises it
            else:
                assert fast.status_code in (400, 422), (what, fast.text)


def test_a_body_without_a_length_or_over_the_limit_goes_to_the_full_app(
    hot, records, trained_model
):
    client, _, reached, service = hot
    import orjson

    body = orjson.dumps(records[4])
    reached.clear()
    r = client.post("/v1/predict", content=iter([body]), headers={"X-Request-ID": "chunked"})
    assert r.status_code == 200 and reached == ["/v1/predict"]
    too_big = b" " * (service.single.inputs.max_body + 1)
    reached.clear()
    r = client.post("/v1/predict", content=too_big)
    assert r.status_code == 413 and reached == ["/v1/predict"]


def test_other_methods_and_routes_are_the_full_apps(hot, trained_model):
    client, _, reached, _ = hot
    reached.clear()
    assert client.get("/v1/predict").status_code == 405
    assert client.get(f"/v1/models/{trained_model.model_name}").status_code == 200
    assert reached == ["/v1/predict", f"/v1/models/{trained_model.model_name}"]


def test_a_model_call_that_raises_is_answered_by_the_full_app(hot, records):
    client, _, reached, service = hot
    served = service.single
    batcher = served.batcher
    original = batcher.submit

    def broken(model, record):
        raise RuntimeError("the model broke")

    batcher.submit = broken
    try:
        reached.clear()
        r = client.post("/v1/predict", json=records[5], headers={"X-Request-ID": "broken-1"})
    finally:
        batcher.submit = original
    assert reached == ["/v1/predict"]
    assert r.status_code == 500
    assert r.json()["request_id"] == "broken-1"


def test_hot_answers_are_counted_and_logged(hot, records, trained_model):
    client, _, reached, service = hot
    name, version = trained_model.model_name, trained_model.version
    before = client.get("/metrics").text
    reached.clear()
    ids = [f"counted-{i}" for i in range(5)]
    for i, rid in enumerate(ids):
        assert client.post("/v1/predict", json=records[i], headers={"X-Request-ID": rid}).is_success
    assert reached == []
    after = client.get("/metrics").text
    requests = {"endpoint": "/v1/predict", "method": "POST", "status": "200"}
    assert sample(after, "mlops_http_requests_total", **requests) - sample(
        before, "mlops_http_requests_total", **requests
    ) == pytest.approx(5)
    latency = {"endpoint": "/v1/predict"}
    assert sample(after, "mlops_http_request_duration_seconds_count", **latency) - sample(
        before, "mlops_http_request_duration_seconds_count", **latency
    ) == pytest.approx(5)
    predicted = {"model_name": name, "model_version": version, "kind": "single", "role": "champion"}
    assert sample(after, "mlops_predictions_total", **predicted) - sample(
        before, "mlops_predictions_total", **predicted
    ) == pytest.approx(5)
    assert service.writer.flush(timeout=30)
    import sqlalchemy as sa

    from mlops_core import predlog

    with predlog.create_engine(service.writer.url).connect() as conn:
        logged = conn.execute(
            sa.select(predlog.predictions.c.request_id, predlog.predictions.c.role).where(
                predlog.predictions.c.request_id.in_(ids)
            )
        ).all()
    assert sorted(logged) == [(rid, "champion") for rid in sorted(ids)]


@pytest.fixture(scope="module")
def keyed(trained_model, tmp_path_factory):
    _, app, reached = in_process(
        trained_model, tmp_path_factory.mktemp("hot-keyed"), api_keys=KEY, require_key=True
    )
    with TestClient(app) as client:
        yield client, reached


def test_with_keys_required_only_a_right_key_is_answered_ahead(keyed, records):
    client, reached = keyed
    reached.clear()
    assert client.post("/v1/predict", json=records[0]).status_code == 401
    assert (
        client.post("/v1/predict", json=records[0], headers={"X-API-Key": "no"}).status_code == 403
    )
    assert reached == ["/v1/predict", "/v1/predict"]
    reached.clear()
    r = client.post("/v1/predict", json=records[0], headers={"X-API-Key": KEY})
    assert r.status_code == 200 and reached == []
