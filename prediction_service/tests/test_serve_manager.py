"""Model management (prediction_service.manager): an admin reload and a poll of the alias
switch the served version atomically; no request fails and each is answered wholly by the
model it started on."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from serve_helpers import API_KEY, burst


@pytest.fixture(scope="module")
def models(swap_model):
    import mlflow

    mlflow.set_tracking_uri(swap_model.tracking_uri)
    return {
        v: mlflow.sklearn.load_model(f"models:/{swap_model.name}/{v}") for v in swap_model.versions
    }


@pytest.fixture(scope="module")
def canary(swap_model):
    from mlflow import MlflowClient

    client = MlflowClient(swap_model.tracking_uri)
    client.set_registered_model_alias(swap_model.name, "canary", swap_model.versions[0])
    return client


@pytest.fixture(scope="module")
def swap_server(start_server, swap_model, canary):
    return start_server(
        {
            "MLOPS_SERVE_API_KEYS": API_KEY,
            "MLOPS_SERVE_REQUIRE_KEY": "false",
            "MLOPS_SERVE_POLL_INTERVAL": "1",
            "MLOPS_MODELS_DIR": str(swap_model.models_dir),
            "MLOPS_MODEL": swap_model.name,
        },
        ["--model", f"models:/{swap_model.name}@canary"],
    )


def _expected(models, schema, record, version):
    import pandas as pd

    return float(models[version].predict(pd.DataFrame([record])[schema.feature_names])[0])


@pytest.mark.slow
def test_reload_under_load_fails_no_request(
    swap_server, swap_model, canary, models, records, schema
):
    v1, v2 = swap_model.versions
    out: dict = {}
    thread = threading.Thread(
        target=lambda: out.update(results=burst(swap_server.url, records[:1500], "swap", 16))
    )
    thread.start()
    time.sleep(1.0)
    canary.set_registered_model_alias(swap_model.name, "canary", v2)
    r = httpx.post(swap_server.url + "/v1/admin/reload", headers={"X-API-Key": API_KEY}, timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == v2
    thread.join(180)
    results = out["results"]
    assert all(status == 200 for status, _ in results), [x for x in results if x[0] != 200][:3]
    versions = [body["model_version"] for _, body in results]
    assert set(versions) == {v1, v2}
    # Every answer is the prediction of the version it names.
    for i in [*list(range(0, len(results), 50)), versions.index(v2), versions.index(v1)]:
        body = results[i][1]
        expected = _expected(models, schema, records[i], body["model_version"])
        assert body["prediction"] == pytest.approx(expected), i
    assert httpx.get(swap_server.url + "/v1/model").json()["model_version"] == v2


@pytest.mark.slow
def test_poll_follows_the_alias(swap_server, swap_model, canary):
    v1, v2 = swap_model.versions
    if httpx.get(swap_server.url + "/v1/model").json()["model_version"] != v2:
        canary.set_registered_model_alias(swap_model.name, "canary", v2)
        time.sleep(3)
    canary.set_registered_model_alias(swap_model.name, "canary", v1)
    deadline = time.monotonic() + 30
    while httpx.get(swap_server.url + "/v1/model").json()["model_version"] != v1:
        assert time.monotonic() < deadline, "the poll did not pick up the alias move"
        time.sleep(0.3)
    metrics = httpx.get(swap_server.url + "/metrics").text
    assert f'model_version="{v1}"' in metrics
    assert 'mlops_model_loads_total{outcome="swapped"}' in metrics
