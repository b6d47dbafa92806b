"""hotpath.HotPath on V2 inference: `/v2/models/{name}/infer` and its version route answered
ahead of FastAPI by the routed handler's own `routes.v2.Inference`.

As in test_serve_hotpath.py, the service is built in process, so each answer is compared
with the full FastAPI app's for the same request and the test sees which of the two
answered.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import orjson
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from serve_helpers import (
    assert_fresh_uuid7,
    in_process,
    loosely_spelt,
    per_feature,
    raw_headers,
    sample,
    table,
    v2_faults,
)
from starlette.testclient import TestClient

from mlops_core import predlog
from prediction_service.rollout import CANARY, SHADOW, Candidate, bucket

KEY = "hot-path-v2-key"


@pytest.fixture(scope="module")
def hot(trained_model, tmp_path_factory):
    service, app, reached = in_process(trained_model, tmp_path_factory.mktemp("hot-v2-home"))
    with TestClient(app, raise_server_exceptions=False) as client:
        # The full FastAPI app on its own, for the reference answers (no second lifespan).
        full = TestClient(functools.partial(FastAPI.__call__, app), raise_server_exceptions=False)
        yield client, full, reached, service


def _infer(trained_model, version: str | None = None) -> str:
    name = trained_model.model_name
    return f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"


def _same(client, full, reached, path, body, rid, *, hot: bool, headers=None):
    """The hot path's answer, checked to be the full app's (bytes and headers) and to have
    reached the full app only when `hot` is false."""
    sent = {"Content-Type": "application/json", "X-Request-ID": rid, **(headers or {})}
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    reached.clear()
    fast = client.post(path, content=content, headers=sent)
    assert reached == ([] if hot else [path]), (rid, fast.status_code, fast.text)
    slow = full.post(path, content=content, headers=sent)
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content), rid
    assert raw_headers(fast) == raw_headers(slow), rid
    return fast


def test_a_valid_inference_is_answered_ahead_of_fastapi_with_the_full_apps_bytes(
    hot, records, schema, trained_model
):
    client, full, reached, _ = hot
    model_route, version_route = _infer(trained_model), _infer(trained_model, trained_model.version)
    cases = [
        (model_route, per_feature(schema, records[:1])),
        (version_route, per_feature(schema, records[1:2])),
        (model_route, per_feature(schema, records[2:3], column=True, nested=True, id="mine")),
        (version_route, table(schema, records[3:4])),
        (model_route, table(schema, records[4:5], text=True)),
        (model_route, {**per_feature(schema, records[5:6]), "outputs": [{"name": "predict"}]}),
        # Spellings the shared validation normalises: still answered ahead.
        (model_route, per_feature(schema, [loosely_spelt(records[6], schema)])),
        # Several rows: one pipeline call in a thread, a row id each.
        (model_route, per_feature(schema, records[7:10])),
        (version_route, table(schema, records[10:14])),
    ]
    for i, (path, body) in enumerate(cases):
        rid = f"hot-v2-{i}"
        r = _same(client, full, reached, path, body, rid, hot=True)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["parameters"] == {"request_id": rid}
        assert answer["id"] == body.get("id", rid)
        assert answer["model_version"] == trained_model.version
        assert answer["outputs"][0]["shape"] == [len(body["inputs"][0]["data"])]
        assert r.headers["x-request-id"] == rid
        assert r.headers["x-model-version"] == trained_model.version
        assert r.headers["x-model-role"] == "champion"


def test_the_request_id_is_the_first_valid_header_else_a_fresh_uuid7(
    hot, records, schema, trained_model
):
    client, full, reached, _ = hot
    body = orjson.dumps(per_feature(schema, records[:1]))
    path = _infer(trained_model)
    reached.clear()
    before = time.time()
    fresh = client.post(path, content=body).json()["parameters"]["request_id"]
    assert_fresh_uuid7(fresh, before, time.time())
    replaced = client.post(path, content=body, headers={"X-Request-ID": "bad id!"})
    assert replaced.json()["parameters"]["request_id"] not in ("bad id!", fresh)
    twice = [("x-request-id", "first-id"), ("x-request-id", "second-id")]
    for route in (path, "/v1/predict"):
        content = body if route == path else orjson.dumps(records[0])
        fast = client.post(route, content=content, headers=twice)
        slow = full.post(route, content=content, headers=twice)
        assert fast.headers["x-request-id"] == slow.headers["x-request-id"] == "first-id", route
    assert reached == []


def test_every_refused_tensor_or_value_is_the_full_apps_answer(hot, records, schema, trained_model):
    client, full, reached, service = hot
    paths = [_infer(trained_model), _infer(trained_model, trained_model.version)]
    bodies = [(what, body) for what, body, *_ in v2_faults(schema, records)]
    bodies += [("malformed JSON", b'{"inputs": ['), ("no body", b"")]
    too_many = service.settings.max_batch + 1
    bodies.append(("too many rows", table(schema, (records * 4)[:too_many])))
    for what, body in bodies:
        for path in paths:
            r = _same(client, full, reached, path, body, "refused-1", hot=False)
            assert r.status_code == (413 if what == "too many rows" else 400), (what, r.text)
            assert r.json()["request_id"] == "refused-1"
            assert r.json()["error"].startswith(("invalid", "malformed", "batch of")), r.json()[
                "error"
            ]


def test_a_version_not_served_is_the_full_apps_404(hot, records, schema, trained_model):
    client, full, reached, _ = hot
    body = per_feature(schema, records[:1])
    for version in ("999", "champion"):
        r = _same(client, full, reached, _infer(trained_model, version), body, "nv-1", hot=False)
        assert r.status_code == 404 and f"no version {version!r}" in r.json()["error"]
    # Paths the V2 routes do not match are the full app's (404s of its own).
    name = trained_model.model_name
    for path in (
        f"/v2/models/{name}/versions//infer",
        f"/v2/models/{name}/versions/1/2/infer",
        f"/v2/models/{name}/infer/",
        f"/v2/models/{name}-other/infer",
        f"/v2/models/{name}-other/versions/1/infer",
    ):
        reached.clear()
        r = client.post(path, json=body, follow_redirects=False)
        assert reached == [path] and r.status_code in (404, 405, 307), (path, r.status_code)


def test_a_body_without_a_length_or_over_the_limit_goes_to_the_full_app(
    hot, records, schema, trained_model
):
    client, _, reached, service = hot
    path = _infer(trained_model)
    body = orjson.dumps(per_feature(schema, records[:1]))
    reached.clear()
    r = client.post(path, content=iter([body]), headers={"X-Request-ID": "chunked-v2"})
    assert r.status_code == 200 and reached == [path]
    reached.clear()
    r = client.post(path, content=b" " * (service.single.inputs.max_body + 1))
    assert r.status_code == 413 and reached == [path]


def test_a_model_call_that_raises_is_answered_by_the_full_app(hot, records, schema, trained_model):
    client, _, reached, service = hot
    served = service.single
    path = _infer(trained_model)

    def broken(*args):
        raise RuntimeError("the model broke")

    for attribute, rows in (("batcher", records[:1]), ("predictor", records[:3])):
        holder = getattr(served, attribute)
        name = "submit" if attribute == "batcher" else "predict"
        original = getattr(holder, name)
        setattr(holder, name, broken)
        try:
            reached.clear()
            r = client.post(
                path, json=per_feature(schema, rows), headers={"X-Request-ID": "broken-v2"}
            )
        finally:
            setattr(holder, name, original)
        assert reached == [path], attribute
        assert r.status_code == 500 and r.json()["request_id"] == "broken-v2", r.text


def _logged(service, ids: list[str]) -> list[tuple[str, str, str]]:
    assert service.writer.flush(timeout=30)
    p = predlog.predictions
    with predlog.create_engine(service.writer.url).connect() as conn:
        rows = conn.execute(
            sa.select(p.c.request_id, p.c.role, p.c.model_version).where(p.c.request_id.in_(ids))
        ).all()
    return sorted(tuple(r) for r in rows)


def test_hot_inferences_are_counted_and_logged(hot, records, schema, trained_model):
    client, _, reached, service = hot
    name, version = trained_model.model_name, trained_model.version
    model_route, version_route = _infer(trained_model), _infer(trained_model, version)
    template = f"/v2/models/{name}/versions/{{version}}/infer"
    before = client.get("/metrics").text
    reached.clear()
    sent = [(model_route, 1), (model_route, 1), (model_route, 3), (version_route, 1)]
    sent += [(version_route, 2)]
    ids = []
    for i, (path, n) in enumerate(sent):
        rid = f"counted-v2-{i}"
        r = client.post(
            path, json=per_feature(schema, records[i : i + n]), headers={"X-Request-ID": rid}
        )
        assert r.status_code == 200, r.text
        ids += [rid] if n == 1 else [f"{rid}-{j}" for j in range(n)]
    assert reached == []
    after = client.get("/metrics").text

    def grew(metric: str, **labels) -> float:
        return sample(after, metric, **labels) - sample(before, metric, **labels)

    for endpoint, n in ((model_route, 3), (template, 2)):
        ok = {"endpoint": endpoint, "method": "POST", "status": "200"}
        assert grew("mlops_http_requests_total", **ok) == pytest.approx(n), endpoint
        assert grew("mlops_http_request_duration_seconds_count", endpoint=endpoint) == (
            pytest.approx(n)
        ), endpoint
    assert grew("mlops_http_requests_total", endpoint=version_route) == 0
    model = {"model_name": name, "model_version": version, "role": "champion"}
    assert grew("mlops_predictions_total", kind="single", **model) == pytest.approx(3)
    assert grew("mlops_predictions_total", kind="batch", **model) == pytest.approx(5)
    assert _logged(service, ids) == sorted((i, "champion", version) for i in ids)


@pytest.fixture
def candidate(hot):
    """Sets the served model's candidate (a copy of the champion under another version)
    for the test; none afterwards."""
    _, _, _, service = hot
    manager = service.single.manager

    def serve(mode: str, weight: float = 0.0) -> str:
        model = dataclasses.replace(manager.current, version="cand-7")
        manager.candidate = Candidate(model, mode, weight)
        return model.version

    yield serve
    manager.candidate = None


def test_a_canary_answers_by_key_and_on_its_version_route_ahead_of_fastapi(
    hot, candidate, records, schema, trained_model
):
    client, full, reached, _ = hot
    cand = candidate(CANARY, 50.0)
    champion = trained_model.version
    body = per_feature(schema, records[:1])
    keys = [f"key-{i}" for i in range(40)]
    routed = {k: bucket(k) < 5000 for k in keys}
    assert any(routed.values()) and not all(routed.values())
    for k, to_canary in routed.items():
        headers = {"X-Routing-Key": k}
        r = _same(client, full, reached, _infer(trained_model), body, k, hot=True, headers=headers)
        expected = (cand, CANARY) if to_canary else (champion, "champion")
        assert (r.headers["x-model-version"], r.headers["x-model-role"]) == expected, k
    # A version route names its model whatever the key: the canary's answers as canary.
    key = next(k for k, to_canary in routed.items() if not to_canary)
    for version, role in ((cand, CANARY), (champion, "champion")):
        r = _same(
            client,
            full,
            reached,
            _infer(trained_model, version),
            per_feature(schema, records[:2]),
            f"route-{role}",
            hot=True,
            headers={"X-Routing-Key": key},
        )
        assert r.json()["model_version"] == version and r.headers["x-model-role"] == role
    r = _same(client, full, reached, _infer(trained_model, "999"), body, "nv-2", hot=False)
    assert r.status_code == 404 and f"versions {champion} and {cand}" in r.json()["error"]


def test_a_shadow_predicts_the_rows_of_a_hot_inference_after_it(
    hot, candidate, records, schema, trained_model
):
    client, _, reached, service = hot
    cand = candidate(SHADOW)
    reached.clear()
    one = client.post(
        _infer(trained_model),
        json=per_feature(schema, records[:1]),
        headers={"X-Request-ID": "shadowed-1"},
    )
    many = client.post(
        _infer(trained_model, trained_model.version),
        json=per_feature(schema, records[:2]),
        headers={"X-Request-ID": "shadowed-2"},
    )
    assert reached == [] and one.status_code == many.status_code == 200
    assert one.headers["x-model-role"] == "champion"
    assert service.shadow.drain(timeout=30)
    ids = ["shadowed-1", "shadowed-2-0", "shadowed-2-1"]
    champion = trained_model.version
    expected = [(i, "champion", champion) for i in ids]
    expected += [(i + ":shadow", "shadow", cand) for i in ids]
    assert _logged(service, [e[0] for e in expected]) == sorted(expected)


@pytest.fixture(scope="module")
def keyed(trained_model, tmp_path_factory):
    _, app, reached = in_process(
        trained_model, tmp_path_factory.mktemp("hot-v2-keyed"), api_keys=KEY, require_key=True
    )
    with TestClient(app) as client:
        yield client, reached


def test_with_keys_required_only_a_right_key_is_answered_ahead(
    keyed, records, schema, trained_model
):
    client, reached = keyed
    body = per_feature(schema, records[:1])
    for path in (_infer(trained_model), _infer(trained_model, trained_model.version)):
        reached.clear()
        assert client.post(path, json=body).status_code == 401
        assert client.post(path, json=body, headers={"X-API-Key": "no"}).status_code == 403
        assert reached == [path, path]
        reached.clear()
        r = client.post(path, json=body, headers={"X-API-Key": KEY})
        assert r.status_code == 200 and reached == [], r.text
